"""Shared fixtures: a trained seed run (trained once per test session) and a CLI runner."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seq2seq_cli.cli import app

ROOT = Path(__file__).resolve().parent.parent
# Prepared data (seq2seq_cli/cache.py) goes to one folder per test session, never the repository's
# .s2s-cache; subprocesses (torchrun, interrupted runs) inherit it.
os.environ["S2S_CACHE_DIR"] = tempfile.mkdtemp(prefix="s2s-test-cache-")
SEED_PAIRS = [
    ("i am a student", "je suis etudiant"),
    ("he is a teacher", "il est professeur"),
    ("she is a doctor", "elle est medecin"),
    ("we are engineers", "nous sommes ingenieurs"),
    ("they are artists", "ils sont artistes"),
]


def run_cli(*args: str, input: str | None = None):
    """Invoke ``s2s`` in-process, as a user would from the shell."""
    return CliRunner().invoke(app, list(args), input=input)


def train_seed_run(runs_dir: Path, overrides: list[str]) -> Path:
    """configs/seed.yaml with ``overrides`` trained through the CLI into ``runs_dir``; its run folder."""
    sets = [a for o in (*overrides, f"train.runs_dir={runs_dir}") for a in ("--set", o)]
    result = run_cli("train", "-c", "configs/seed.yaml", *sets)
    assert result.exit_code == 0, result.output
    return runs_dir / "seed"


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    """Configs name data paths relative to the repository root, as the README's commands do."""
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def seed_run(runs_dir) -> Path:
    """configs/seed.yaml trained through the CLI into a temporary runs folder."""
    import os

    previous = os.getcwd()
    os.chdir(ROOT)
    try:
        result = run_cli("train", "--config", "configs/seed.yaml", "--set", f"train.runs_dir={runs_dir}")
    finally:
        os.chdir(previous)
    assert result.exit_code == 0, result.output
    return runs_dir / "seed"


TRANSFORMER_SEED = [
    "model.type=transformer", "model.hidden_size=64", "model.heads=4", "model.ff_dim=128", "model.layers=2",
    "model.dropout=0.0", "train.lr=0.002", "train.epochs=80", "train.lr_schedule=inverse-sqrt",
    "train.warmup_steps=10", "train.label_smoothing=0.1", "decode.beam_size=3",
]


@pytest.fixture(scope="session")
def transformer_run(tmp_path_factory) -> Path:
    """The five pairs learnt by a small Transformer (2 layers × 4 heads), trained once per session."""
    return train_seed_run(tmp_path_factory.mktemp("transformer"), TRANSFORMER_SEED)
