"""Fine-tuning (``s2s train --init-from RUN``): a new pattern learnt, the old one kept, the parent's
vocabulary and architecture kept, frozen weights untouched, and every mistake a one-line error.

The scenario: short sentences of the bundled corpus made of its 100 most frequent English words.
The parent never sees negation with do/does ("she does not live in a hotel" -> "elle n'habite pas dans
un hôtel"; it does see "is not", "are not"), so "do" and "does" are not even in its vocabulary. The
child fine-tunes on the do-negations plus some of the parent's pairs, as a user would, and is scored
on held-out sentences of both kinds.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
from collections import Counter
from pathlib import Path

import pytest
import torch

import seq2seq_cli as s2s
from seq2seq_cli import runs
from seq2seq_cli.config import Config, ModelConfig, load_run_config
from seq2seq_cli.errors import ConfigError
from seq2seq_cli.training import finetune
from tests.conftest import ROOT, run_cli, train_seed_run
from tests.test_bad_input import assert_one_line_error

DO_NOT = re.compile(r"\b(do|does) not\b")
PARENT_CONFIG = """\
data: {{train: {dir}/old_train.tsv, val: {dir}/old_val.tsv, max_len: 12}}
model: {{embed_dim: 64, hidden_size: 64, bidirectional: false, dropout: 0.1}}
train: {{epochs: 10, lr: 0.01, batch_size: 64, threads: 1, probes: 0}}
decode: {{beam_size: 1}}
"""
# no model or decode section: a fine-tuning config inherits the parent's
CHILD_CONFIG = """\
data: {{train: {dir}/new_train.tsv, val: {dir}/new_val.tsv}}
train: {{epochs: {epochs}, lr: 0.003, batch_size: 16, threads: 1, probes: 0}}
"""


def _pairs(name: str) -> list[tuple[str, str]]:
    lines = (ROOT / "data/en-fr" / f"{name}.tsv").read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")) for line in lines]


def _write(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{source}\t{target}\n" for source, target in pairs), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """Old pairs (no do-negation) and new pairs (do-negation), each split into train, val and test."""
    folder = tmp_path_factory.mktemp("corpus")
    counts = Counter(word for source, _ in _pairs("train") for word in source.split())
    common = {word for word, _ in counts.most_common(100)}
    pairs = [p for name in ("train", "val", "test") for p in _pairs(name)]
    short = [p for p in pairs if len(p[0].split()) <= 7 and set(p[0].split()) <= common]
    old, new = [p for p in short if not DO_NOT.search(p[0])], [p for p in short if DO_NOT.search(p[0])]
    random.Random(0).shuffle(old)
    random.Random(0).shuffle(new)
    old_test, old_val, old_train = old[:100], old[100:150], old[150:]
    new_test, new_val, new_train = new[:30], new[30:50], new[50:]
    assert len(old_train) > 1000 and len(new_train) > 50
    _write(folder / "old_train.tsv", old_train)
    _write(folder / "old_val.tsv", old_val)
    _write(folder / "new_train.tsv", new_train + old_train[:200])  # the new pattern, and some of the old to keep it
    _write(folder / "new_val.tsv", new_val + old_val[:20])
    (folder / "parent.yaml").write_text(PARENT_CONFIG.format(dir=folder), encoding="utf-8")
    return {"dir": folder, "old_test": old_test, "new_test": new_test}


def child_config(corpus: dict, epochs: int = 12, name: str = "child") -> Path:
    path = corpus["dir"] / f"{name}.yaml"
    path.write_text(CHILD_CONFIG.format(dir=corpus["dir"], epochs=epochs), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def parent(corpus, runs_dir) -> Path:
    """The parent run, trained through the CLI on the old pairs only (about 10 s on 2 cores)."""
    result = run_cli("train", "-c", str(corpus["dir"] / "parent.yaml"), "--set", f"train.runs_dir={runs_dir}")
    assert result.exit_code == 0, result.output
    return runs_dir / "parent"


def exact_match(run: Path, pairs: list[tuple[str, str]]) -> float:
    results = s2s.load(run).translate([source for source, _ in pairs], attention="none")
    return sum(result.text == target for result, (_, target) in zip(results, pairs)) / len(pairs)


def test_fine_tuning_learns_the_new_pattern_and_keeps_the_old(corpus, parent, runs_dir):
    result = run_cli("train", "-c", str(child_config(corpus)), "--init-from", "parent", "--runs-dir", str(runs_dir))
    assert result.exit_code == 0, result.output
    child = runs_dir / "child"
    assert f"fine-tuning from {parent} (best.pt, step " in result.stdout
    # do and does are new words: read as <unk>, and the log says how many
    assert re.search(r"source: [\d,]+ of [\d,]+ training tokens \(\d+\.\d%\) unknown to the parent's vocabulary, "
                     r"read as <unk> \(2 distinct: do(es)? ×\d+, do(es)? ×\d+\)", result.stdout), result.stdout
    assert re.search(r"target: 0 of [\d,]+ training tokens \(0\.0%\) unknown", result.stdout), result.stdout

    saved, parent_config = load_run_config(child), load_run_config(parent)
    assert saved.train.init_from == str(parent)  # the new run records its parent
    assert (saved.model, saved.decode, saved.data.max_len) == (parent_config.model, parent_config.decode, 12)  # inherited
    for name in (runs.SOURCE_VOCAB, runs.TARGET_VOCAB):  # the parent's vocabularies, copied
        assert (child / name).read_bytes() == (parent / name).read_bytes()
    metrics = runs.read_metrics(child)
    assert metrics[0]["step"] < 20 and metrics[0]["lr"] == 0.003  # fresh step count and schedule

    scores = {(run.name, kind): exact_match(run, corpus[kind]) for run in (parent, child) for kind in ("old_test", "new_test")}
    shown = ", ".join(f"{name} on {kind}: {score:.0%}" for (name, kind), score in scores.items())
    assert scores["parent", "old_test"] >= 0.8 and scores["parent", "new_test"] <= 0.1, shown  # the parent cannot negate
    assert scores["child", "new_test"] >= 0.7, shown  # learnt from about 70 examples...
    assert scores["child", "old_test"] >= 0.7, shown  # ...and the old pattern kept (from random weights: 17%)
    source = corpus["new_test"][0][0]
    assert s2s.load(child).translate(source)[0].unknown == [DO_NOT.search(source)[1]]  # do or does: still <unk>
    print(shown)


def test_frozen_weights_stay_the_parents_and_a_fine_tuned_run_resumes_exactly_without_it(
    corpus, parent, tmp_path, monkeypatch
):
    base = shutil.copytree(parent, tmp_path / "base")  # a parent that can be taken away before resuming
    config = child_config(corpus, epochs=2, name="frozen")
    runs_here = tmp_path / "runs"
    whole = s2s.train(config, quiet=True, **{"train.init_from": str(base), "train.freeze": ["encoder"],
                                             "train.runs_dir": str(runs_here), "train.name": "whole"})
    before = runs.load_checkpoint(base / runs.BEST)["model"]
    last = runs.load_checkpoint(whole / runs.LAST)
    after = last["model"]
    encoder = [name for name in before if name.startswith("encoder.")]
    assert encoder and all(torch.equal(before[name], after[name]) for name in encoder)  # bit for bit
    assert not all(torch.equal(before[name], after[name]) for name in before)  # the rest trained
    trained = [name for name in after if not name.startswith("encoder.")]
    assert len(last["trainer"]["optimizer"]["param_groups"][0]["params"]) == len(trained)  # frozen: not in the optimiser

    real_clip, calls = torch.nn.utils.clip_grad_norm_, []

    def clip_then_interrupt(*args, **kwargs):  # Ctrl-C mid-step, at the 15th update
        calls.append(1)
        if len(calls) == 15:
            signal.raise_signal(signal.SIGINT)
        return real_clip(*args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip_then_interrupt)
    sets = ["--set", "train.freeze=[encoder]", "--set", f"train.runs_dir={runs_here}", "--set", "train.name=cut",
            "--set", "data.min_freq=3"]
    result = run_cli("train", "-c", str(config), "--init-from", str(base), *sets)
    assert result.exit_code == 130, result.output
    assert "warning: data.min_freq: 3 ignored: fine-tuning keeps the vocabulary of" in result.stdout
    assert re.search(r"training [\d,]+ of [\d,]+ parameters; frozen: encoder", result.stdout)
    cut = runs_here / "cut"
    assert load_run_config(cut).data.min_freq == 1  # the setting the vocabulary was built with
    monkeypatch.undo()
    shutil.rmtree(base)  # the run folder is self-contained: resuming never reads the parent

    assert run_cli("train", "--resume", "--run", str(cut)).exit_code == 0
    for name in (runs.LAST, runs.BEST):
        expected, got = runs.load_checkpoint(whole / name)["model"], runs.load_checkpoint(cut / name)["model"]
        assert all(torch.equal(expected[k], got[k]) for k in expected), name


@pytest.mark.parametrize("setting,message", [
    ("model.hidden_size=32", "model.hidden_size: 32 here but 64 in {parent} (the run --init-from starts from)"),
    ("model.type=transformer", "model.type: transformer here but gru in {parent}"),
    ("model.attention=luong-dot", "model.attention: luong-dot here but bahdanau in {parent}"),
    ("data.lowercase=false", "data.lowercase: false here but true in {parent}"),
])
def test_another_architecture_is_a_one_line_error_naming_the_key(corpus, parent, runs_dir, setting, message):
    before = sorted(runs_dir.iterdir())
    result = run_cli("train", "-c", str(child_config(corpus)), "--init-from", str(parent), "--set", setting,
                     "--set", f"train.runs_dir={runs_dir}")
    assert_one_line_error(result, message.format(parent=parent))
    assert sorted(runs_dir.iterdir()) == before  # no run folder left behind


def test_an_unknown_freeze_prefix_names_what_exists(corpus, parent, runs_dir):
    before = sorted(runs_dir.iterdir())
    result = run_cli("train", "-c", str(child_config(corpus)), "--init-from", str(parent),
                     "--set", "train.freeze=[encoder.embeddings]", "--set", f"train.runs_dir={runs_dir}")
    assert_one_line_error(result, "train.freeze: no parameters under 'encoder.embeddings' (did you mean encoder.embedding?)",
                          "this model has encoder.embedding, encoder.rnn, decoder.embedding")
    assert sorted(runs_dir.iterdir()) == before
    everything = run_cli("train", "-c", str(child_config(corpus)), "--init-from", str(parent),
                         "--set", "train.freeze=[encoder, decoder]", "--set", f"train.runs_dir={runs_dir}")
    assert_one_line_error(everything, "train.freeze: encoder, decoder freezes every parameter: nothing would train")
    assert sorted(runs_dir.iterdir()) == before


def test_a_missing_parent_or_one_without_best_pt_and_resume_with_init_from(corpus, parent, runs_dir, tmp_path):
    config = str(child_config(corpus))
    assert_one_line_error(run_cli("train", "-c", config, "--init-from", "nope", "--runs-dir", str(tmp_path)),
                          "train.init_from: nope: no such run")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(parent / runs.CONFIG_FILE, unfinished)
    assert_one_line_error(run_cli("train", "-c", config, "--init-from", str(unfinished)),
                          f"train.init_from: {unfinished} has no best.pt to start from")
    assert_one_line_error(run_cli("train", "--resume", "--run", str(parent), "--init-from", str(parent)),
                          "--init-from starts a new run from a trained one and --resume continues an interrupted one")
    assert_one_line_error(run_cli("train", "-c", config, "--set", "train.freeze=[encoder]"),
                          "train.freeze needs train.init_from")


def test_a_sentencepiece_parent_hands_down_its_models(tmp_path):
    parent = train_seed_run(tmp_path / "parents", ["data.tokenizer=sentencepiece", "data.vocab_size=20",
                                                   "data.max_len=40", "model.attention=bahdanau", "model.embed_dim=16",
                                                   "model.hidden_size=16", "train.epochs=2", "train.probes=0"])
    config = tmp_path / "tune.yaml"
    config.write_text("data: {train: data/seed.tsv, val: data/seed.tsv, vocab_size: 30}\ntrain: {epochs: 1}\n")
    result = run_cli("train", "-c", str(config), "--init-from", str(parent), "--set", f"train.runs_dir={tmp_path}")
    assert result.exit_code == 0, result.output
    assert "warning: data.vocab_size: 30 ignored" in result.stdout
    for name in ("spm.src.model", "spm.tgt.model", runs.SOURCE_VOCAB, runs.TARGET_VOCAB):
        assert (tmp_path / "tune" / name).read_bytes() == (parent / name).read_bytes()
    assert load_run_config(tmp_path / "tune").data.vocab_size == 20
    pieces = [s2s.load(run).translate("i am a student")[0].source_tokens for run in (parent, tmp_path / "tune")]
    assert pieces[0] == pieces[1] and len(pieces[0]) > 4  # read in the parent's pieces


def _config(model: ModelConfig, max_len: int = 50) -> Config:
    config = Config(model=model)
    config.data.max_len = max_len
    return config


@pytest.mark.parametrize("parent_model,child_model,key", [
    (ModelConfig(type="transformer"), ModelConfig(type="transformer", heads=8), "model.heads"),
    (ModelConfig(type="transformer"), ModelConfig(type="transformer", tie_embeddings=True), "model.tie_embeddings"),
    (ModelConfig(), ModelConfig(bidirectional=False), "model.bidirectional"),
    (ModelConfig(output="adaptive"), ModelConfig(output="adaptive", adaptive_cutoffs=[100]), "model.adaptive_cutoffs"),
])
def test_the_keys_that_shape_the_weights_must_match(parent_model, child_model, key):
    with pytest.raises(ConfigError, match=f"^{re.escape(key)}: "):
        finetune.check_architecture(_config(child_model), _config(parent_model), Path("runs/base"))


def test_settings_that_do_not_shape_the_weights_may_change():
    finetune.check_architecture(_config(ModelConfig(dropout=0.5, heads=2, ff_dim=8), 30), _config(ModelConfig()),
                                Path("runs/base"))  # dropout, and heads and ff_dim that a GRU with bahdanau ignores
    location = ModelConfig(attention="location")
    with pytest.raises(ConfigError, match="^data.max_len: 30 here but 50 in runs/base"):  # location attention's width
        finetune.check_architecture(_config(location, 30), _config(location), Path("runs/base"))
