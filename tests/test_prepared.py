"""The prepared-data cache: prepared once and reused, prepared again when a file or setting changes,
errors at file:line before any run folder, the dropped-pairs report, and memory-mapped arrays that
give exactly the batches the in-memory lists gave."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from seq2seq_cli.config import load_config
from seq2seq_cli.data import cache
from seq2seq_cli.data.batches import bucketed_order, collate
from seq2seq_cli.data.prepare import prepare_data
from tests.conftest import ROOT, SEED_PAIRS, run_cli
from tests.test_bad_input import assert_one_line_error

QUIET = Console(quiet=True)


def old_bucketed_batches(examples, batch_size, rng, batch_tokens=0):
    """The list-of-lists bucketing s2s had before the cache, kept here as the reference."""
    order = list(range(len(examples)))
    if rng is not None:
        rng.shuffle(order)
    size = [max(len(examples[i].source), len(examples[i].target) + 1) for i in range(len(examples))]
    order.sort(key=lambda i: (len(examples[i].source), len(examples[i].target)))
    batches, batch, longest = [], [], 0
    for index in order:
        grown = max(longest, size[index])
        if batch and (len(batch) >= batch_size or (batch_tokens and (len(batch) + 1) * grown > batch_tokens)):
            batches.append(batch)
            batch, grown = [], size[index]
        batch.append(index)
        longest = grown
    if batch:
        batches.append(batch)
    if rng is not None:
        rng.shuffle(batches)
    return batches


def entries(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.iterdir() if (p / cache.META).is_file()) if cache_dir.is_dir() else []


def write_pairs(path: Path, pairs) -> Path:
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """configs/default.yaml's corpus prepared into the cache, and in memory as before."""
    config = load_config(ROOT / "configs/default.yaml", [f"data.cache_dir={tmp_path_factory.mktemp('cache')}"])
    return cache.prepare(config, QUIET), prepare_data(config)


@pytest.fixture(scope="module")
def bundled(prepared):
    """The lists as before, and the arrays."""
    return prepared[1], prepared[0].training_data()


def test_the_arrays_hold_the_examples_and_vocabularies_the_lists_did(bundled):
    lists, arrays = bundled
    assert arrays.src_vocab.itos == lists.src_vocab.itos and arrays.tgt_vocab.itos == lists.tgt_vocab.itos
    assert len(arrays.train) == len(lists.train) and arrays.too_long == lists.too_long
    assert all(arrays.train[i] == example for i, example in enumerate(lists.train))
    assert arrays.val == lists.val and arrays.val_pairs == lists.val_pairs
    assert arrays.train.src.ids.dtype == np.uint16 and isinstance(arrays.train.src.ids, np.memmap)


@pytest.mark.parametrize("batch_tokens", [0, 300])
def test_the_arrays_give_the_same_seeded_batches_and_tensors(bundled, batch_tokens):
    lists, arrays = bundled
    train = arrays.train
    for seed in (1, 2):
        expected = old_bucketed_batches(lists.train, 64, random.Random(seed), batch_tokens)
        got = bucketed_order(train.src.lengths, train.tgt.lengths, 64, random.Random(seed), batch_tokens)
        assert got.as_lists() == expected
    assert bucketed_order(train.src.lengths, train.tgt.lengths, 64, None, batch_tokens).as_lists() == \
        old_bucketed_batches(lists.train, 64, None, batch_tokens)
    for ids in expected[:5]:
        old, new = collate([lists.train[i] for i in ids]), train.collate(ids)
        for name in ("src", "src_lengths", "tgt_in", "tgt_out"):
            assert torch.equal(getattr(old, name), getattr(new, name)), name
        assert train.target_tokens(ids) == old.n_tokens


def test_prepared_once_reused_and_prepared_again_when_a_file_or_setting_changes(tmp_path):
    data = write_pairs(tmp_path / "pairs.tsv", SEED_PAIRS)
    cache_dir = tmp_path / "cache"
    sets = ["--set", f"data.train={data}", "--set", f"data.val={data}", "--set", f"data.cache_dir={cache_dir}"]
    first = run_cli("prepare", "-c", "configs/seed.yaml", *sets)
    assert first.exit_code == 0, first.output
    assert "preparing" in first.stdout and "prepared 5 pairs" in first.stdout
    (entry,) = entries(cache_dir)
    times = {p.name: p.stat().st_mtime_ns for p in entry.iterdir()}

    trained = run_cli("train", "-c", "configs/seed.yaml", *sets, "--set", "train.epochs=1",
                      "--set", f"train.runs_dir={tmp_path / 'runs'}")
    assert trained.exit_code == 0, trained.output
    assert f"prepared data: {entry} (5 training pairs; prepared once, reused)" in trained.stdout
    assert "preparing" not in trained.stdout
    assert entries(cache_dir) == [entry] and {p.name: p.stat().st_mtime_ns for p in entry.iterdir()} == times

    assert run_cli("prepare", "-c", "configs/seed.yaml", *sets, "--set", "data.lowercase=false").exit_code == 0
    assert len(entries(cache_dir)) == 2  # another setting: another entry
    write_pairs(data, [*SEED_PAIRS[:4], ("they are painters", "ils sont peintres")])
    again = run_cli("prepare", "-c", "configs/seed.yaml", *sets)
    assert "preparing" in again.stdout and len(entries(cache_dir)) == 3  # a changed file: prepared again


def test_a_bad_line_is_an_error_at_file_line_before_any_run_folder(tmp_path):
    lines = [f"sentence {i}\tphrase {i}" for i in range(25_000)]
    lines[17_000] = "one\ttwo\tthree"  # in the second chunk: read while workers tokenise the first
    bad = tmp_path / "bad.tsv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    runs_dir, cache_dir = tmp_path / "runs", tmp_path / "cache"
    sets = [f"data.train={bad}", "data.val=null", f"train.runs_dir={runs_dir}", f"data.cache_dir={cache_dir}", "data.workers=2"]
    result = run_cli("train", "-c", "configs/seed.yaml", *[a for s in sets for a in ("--set", s)])
    assert_one_line_error(result, f"{bad}:17001: expected 2 tab-separated columns")
    assert not runs_dir.exists() and list(cache_dir.iterdir()) == []  # no run folder, no half-prepared entry

    lines[17_000] = "a sentence\t\u200b"  # no words after normalisation: found by a worker
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("train", "-c", "configs/seed.yaml", *[a for s in sets for a in ("--set", s)])
    assert_one_line_error(result, f"{bad}:17001: target side has no words after normalisation")
    assert not runs_dir.exists() and list(cache_dir.iterdir()) == []


def test_dropped_pairs_are_counted_with_examples(tmp_path):
    long = " ".join(["word"] * 12)
    data = write_pairs(tmp_path / "pairs.tsv", [*SEED_PAIRS, (long, "court"), ("court", long)])
    result = run_cli("prepare", "-c", "configs/seed.yaml", "--set", f"data.train={data}", "--set", f"data.val={data}",
                     "--set", f"data.cache_dir={tmp_path / 'cache'}")
    assert result.exit_code == 0, result.output
    assert f"dropped 2 longer than data.max_len=10, e.g. {data}:6 (12 + 1 tokens" in result.stdout
    assert f"{data}:7 (1 + 12 tokens" in result.stdout


def test_a_pool_of_workers_prepares_the_same_arrays(tmp_path):
    folders = []
    for workers in (1, 2):
        config = load_config(ROOT / "configs/default.yaml",
                             [f"data.cache_dir={tmp_path / str(workers)}", f"data.workers={workers}"])
        folders.append(cache.prepare(config, QUIET).folder)
    for name in sorted(p.name for p in folders[0].iterdir() if p.suffix in (".npy", ".txt", ".json") and p.name != cache.META):
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes(), name


def test_only_rank_0_prepares_the_others_open_its_entry(prepared, monkeypatch, tmp_path):
    """Under torchrun the other processes never read the corpus: they open the entry rank 0 names."""
    entry = prepared[0].folder

    class Rank1:
        is_main, distributed = False, True

        @staticmethod
        def from_main(value):
            assert value is None  # rank 1 sends nothing: it receives rank 0's entry
            return str(entry)

    monkeypatch.setattr(cache, "_find_or_build", lambda *a: pytest.fail("rank 1 prepared"))
    config = load_config(ROOT / "configs/default.yaml", [f"data.cache_dir={tmp_path}"])
    opened = cache.prepare(config, QUIET, Rank1()).training_data()
    assert len(opened.train) == len(prepared[1].train) and list(tmp_path.iterdir()) == []
