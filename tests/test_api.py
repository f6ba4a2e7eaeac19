"""The Python API, used only through its public names: load once, translate, attend, train."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import seq2seq_cli as s2s
from tests.conftest import ROOT, SEED_PAIRS, run_cli


def test_the_public_names_and_no_torch_on_import():
    assert sorted(s2s.__all__) == ["AttentionMap", "Hypothesis", "Model", "Result", "__version__", "load", "train"]
    code = "import sys, seq2seq_cli as s2s; s2s.__all__; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_translate_from_python_gives_what_the_cli_prints(seed_run, runs_dir):
    model = s2s.load("seed", runs_dir=runs_dir)  # a name inside the runs folder
    results = model.translate([source for source, _ in SEED_PAIRS], attention="list")
    assert [r.text for r in results] == [target for _, target in SEED_PAIRS]
    printed = json.loads(run_cli("translate", "--run", str(seed_run), "--json", SEED_PAIRS[2][0]).stdout)["hypotheses"][0]
    best = results[2].hypotheses[0]
    assert (best.tokens, round(best.score, 6), best.attention) == (printed["tokens"], printed["score"], printed["attention"])


def test_nbest_alignment_and_a_single_string(seed_run):
    model = s2s.load(seed_run)
    (result,) = model.translate("he is a teacher", beam=4, nbest=3)
    assert isinstance(result, s2s.Result) and len(result.hypotheses) == 3
    scores = [h.score for h in result.hypotheses]
    assert scores == sorted(scores, reverse=True) and result.text == result.hypotheses[0].text == "il est professeur"
    best = result.hypotheses[0]
    assert best.attention.shape == (len(best.tokens), 4)  # a tensor by default
    assert [t for _, t in best.alignment] == [0, 1, 2]  # one link per output word
    (unknown,) = model.translate("she is a dentist", attention="none")
    assert unknown.unknown == ["dentist"] and unknown.hypotheses[0].attention is None


def test_attend_returns_the_map_the_cli_draws(seed_run):
    drawn = s2s.load(seed_run).attend("she is a doctor")
    assert isinstance(drawn, s2s.AttentionMap)
    assert drawn.source == ["she", "is", "a", "doctor"] and drawn.output[-1] == "<eos>" and drawn.text == "elle est medecin"
    printed = json.loads(run_cli("translate", "--run", str(seed_run), "--json", "she is a doctor").stdout)["hypotheses"][0]
    assert [[round(w, 4) for w in row] for row in drawn.weights.tolist()] == printed["attention"]


def test_train_from_python_returns_the_run_folder(tmp_path):
    overrides = {"train.epochs": 3, "train.runs_dir": str(tmp_path), "train.name": "api"}
    run_dir = s2s.train("configs/seed.yaml", quiet=True, **overrides)
    assert run_dir == tmp_path / "api" and (run_dir / "best.pt").is_file()
    assert len(s2s.load(run_dir).translate("i am a student")) == 1


def test_mistakes_are_errors_not_silence(seed_run):
    from seq2seq_cli.errors import ConfigError, RunError

    with pytest.raises(ValueError, match="attention must be"):
        s2s.load(seed_run).translate("i am a student", attention="png")
    with pytest.raises(RunError):
        s2s.load("no-such-run", runs_dir=seed_run.parent)
    with pytest.raises(ConfigError, match="train.epoch"):
        s2s.train("configs/seed.yaml", **{"train.epoch": 3})
