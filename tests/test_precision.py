"""train.precision: auto — float32 unless the CPU has bf16 matrix units (AMX) and bf16 measures faster."""

from __future__ import annotations

import json

import pytest
import yaml

from seq2seq_cli.system import has_amx
from seq2seq_cli.training import precision
from tests.conftest import run_cli


def train(tmp_path, *overrides: str):
    sets = [a for o in (f"train.runs_dir={tmp_path}", "train.epochs=6", *overrides) for a in ("--set", o)]
    result = run_cli("train", "-c", "configs/seed.yaml", *sets)
    assert result.exit_code == 0, result.output
    run = tmp_path / "seed"
    losses = [json.loads(line)["train_loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    return run, result.stdout, losses


def test_auto_says_what_it_chose_and_why_and_the_run_config_records_it(tmp_path):
    run, stdout, _ = train(tmp_path)
    line = next(line for line in stdout.splitlines() if line.startswith("train.precision auto -> "))
    chosen = yaml.safe_load((run / "config.yaml").read_text())["train"]["precision"]
    assert line.startswith(f"train.precision auto -> {chosen}: ")
    if has_amx():  # Intel with AMX: measured
        assert "ms in float32 and" in line
    else:  # AMD, or Intel without AMX: bf16 would be emulated
        assert chosen == "fp32" and "no bf16 matrix units (AMX)" in line


@pytest.mark.parametrize("fp32,bf16,chosen", [(2.0, 1.0, "bf16"), (1.0, 1.0, "fp32"), (1.0, 2.0, "fp32")])
def test_on_amx_the_faster_precision_wins_by_a_margin(monkeypatch, fp32, bf16, chosen):
    import torch

    from seq2seq_cli.config import Config

    monkeypatch.setattr(precision, "has_amx", lambda: True)
    monkeypatch.setattr(precision, "seconds_per_step", lambda *args: {"fp32": fp32, "bf16": bf16}[args[-1]])
    choice, why = precision._decide(Config(), None, (10, 10), torch.device("cpu"))
    assert choice == chosen and f"{1000 * fp32:.0f} ms in float32 and {1000 * bf16:.0f} ms in bf16" in why


def test_measuring_leaves_training_exactly_as_it_would_have_been(tmp_path, monkeypatch):
    """The measurement trains a copy on its own random batch and restores the RNG: the run's losses are
    those of the same run told its precision outright."""
    monkeypatch.setattr(precision, "has_amx", lambda: True)  # measure, whatever this CPU is
    monkeypatch.setattr(precision, "FASTER", float("inf"))  # and then choose float32
    _, stdout, measured = train(tmp_path / "auto")
    assert "ms in float32 and" in stdout
    _, _, told = train(tmp_path / "fp32", "train.precision=fp32")
    assert measured == told
