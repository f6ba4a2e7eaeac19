"""Training's bookkeeping never goes silently wrong: each step is validated once, one rule decides
ties, a resume runs on the data the run started with, and a run that trained nothing is an error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from seq2seq_cli import runs
from tests.conftest import ROOT, run_cli
from tests.test_bad_input import assert_one_line_error

TINY = ["model.embed_dim=16", "model.hidden_size=16"]


def train_seed(runs_dir: Path, *overrides: str):
    sets = [a for o in (*TINY, f"train.runs_dir={runs_dir}", *overrides) for a in ("--set", o)]
    return run_cli("train", "-c", "configs/seed.yaml", *sets)


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def poison_training_batches(monkeypatch, which) -> None:
    """Training batches (not validation ones) whose call number ``which`` accepts get an infinite loss."""
    from seq2seq_cli.training import updates as training  # the update step looks batch_loss up there

    real_loss, calls = training.batch_loss, []

    def poisoned(model, batch, *args):
        calls.append(model.training)
        loss, n = real_loss(model, batch, *args)
        return (loss * float("inf"), n) if model.training and which(sum(calls)) else (loss, n)

    monkeypatch.setattr(training, "batch_loss", poisoned)


# --- a skipped batch does not validate its step a second time ---


def test_a_skipped_batch_does_not_validate_the_same_step_again(tmp_path, monkeypatch):
    poison_training_batches(monkeypatch, lambda call: call == 2)
    result = train_seed(tmp_path, "train.on_nonfinite=skip", "train.validate_every=1", "train.epochs=4")
    assert result.exit_code == 0, result.output
    assert "batch skipped" in result.stdout
    records = metrics(tmp_path / "seed")
    assert [r["step"] for r in records] == [1, 2, 3]  # not [1, 1, 2, 3]
    trainer = runs.load_checkpoint(tmp_path / "seed" / "last.pt")["trainer"]
    assert trainer["scheduler"]["last_epoch"] == 3  # the plateau schedule saw each validation once


# --- ties: the earlier validation stays best, everywhere ---


def record(step: int, bleu: float) -> dict:
    return {"step": step, "epoch": 1, "train_loss": 1.0, "val_loss": 1.0, "val_bleu": bleu}


def test_a_tie_is_not_an_improvement_and_the_earlier_validation_stays_best():
    from seq2seq_cli.training.scoreboard import Scoreboard

    board = Scoreboard("bleu", keep_best=2, patience=3)
    verdicts = [board.add(record(step, bleu)) for step, bleu in [(1, 10.0), (2, 12.0), (3, 12.0), (4, 11.0), (5, 12.0)]]
    assert [v.improved for v in verdicts] == [True, True, False, False, False]
    assert board.best["step"] == 2 and board.stalled == 3 and board.out_of_patience
    assert [step for _, step in board.kept] == [2, 3]  # equal scores rank in order of arrival
    assert (verdicts[2].keep, verdicts[2].dropped) == (True, [1])  # a tie may fill the best N, behind the earlier
    assert (verdicts[4].keep, verdicts[4].dropped) == (False, [5])  # but never displaces an equal one

    replayed = Scoreboard("bleu", keep_best=2, patience=3)  # a resume rebuilds the same best from the log
    replayed.load_state_dict(board.state_dict(), [record(s, b) for s, b in [(1, 10.0), (2, 12.0), (3, 12.0)]])
    assert replayed.best["step"] == 2


def test_lower_is_better_for_loss_and_a_tie_keeps_the_earlier():
    from seq2seq_cli.training.scoreboard import Scoreboard

    board = Scoreboard("loss")
    losses = [2.0, 1.5, 1.5, 1.6]
    improved = [board.add({"step": s, "train_loss": 9.0, "val_loss": v}).improved for s, v in enumerate(losses, 1)]
    assert improved == [True, True, False, False] and board.best["step"] == 2


def test_the_plateau_schedule_counts_a_tie_as_no_improvement_for_a_loss_too():
    """ReduceLROnPlateau's default relative threshold, on -loss (negative), took a tie for a gain."""
    from seq2seq_cli.config import TrainConfig
    from seq2seq_cli.training.schedules import plateau_schedule

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = plateau_schedule(optimizer, TrainConfig(lr_decay=0.5, lr_patience=1))
    for score in (-2.0, -2.0, -2.0):  # val loss 2.0 three times: two validations without improvement
        scheduler.step(score)
    assert optimizer.param_groups[0]["lr"] == 0.5


def test_equal_validations_keep_the_first_as_best_pt_and_in_the_final_message(tmp_path):
    result = train_seed(tmp_path, "train.lr=0", "train.lr_decay=1", "train.epochs=3", "train.validate_every=1",
                        "train.keep_best=2")
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "seed"
    assert len({r["val_loss"] for r in metrics(run_dir)}) == 1  # lr 0: three equal validations
    assert runs.load_checkpoint(run_dir / "best.pt")["step"] == 1
    assert "best at step 1 " in result.stdout
    assert sorted(p.name for p in run_dir.glob("best-step*.pt")) == ["best-step1.pt", "best-step2.pt"]


# --- resume checks it reads the data the run started with ---


def interrupted_run(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """A seed run on a copy of the data, stopped by SIGINT during its third step."""
    from seq2seq_cli.training import updates as training  # the update step looks batch_loss up there

    data = tmp_path / "seed.tsv"
    data.write_bytes((ROOT / "data" / "seed.tsv").read_bytes())
    real_loss, calls = training.batch_loss, []

    def interrupting(model, batch, *args):
        calls.append(model.training)
        if model.training and sum(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # the trainer's handler notes it and stops after the step
        return real_loss(model, batch, *args)

    with monkeypatch.context() as patch:
        patch.setattr(training, "batch_loss", interrupting)
        result = train_seed(tmp_path / "runs", f"data.train={data}", f"data.val={data}", "train.epochs=6")
    assert result.exit_code == 130, result.output
    return tmp_path / "runs" / "seed", data


def test_resume_refuses_training_data_that_changed_or_moved(tmp_path, monkeypatch):
    run_dir, data = interrupted_run(tmp_path, monkeypatch)
    original = data.read_bytes()
    size = len(original)

    data.write_bytes(original + b"i am tall\tje suis grand\n")
    assert_one_line_error(
        run_cli("train", "--resume", "--run", str(run_dir)),
        f"{data}: data.train changed since the run started (size {size} -> {size + 24} bytes); "
        "resume needs the same training data",
    )
    data.write_bytes(original.replace(b"etudiant", b"etudianx"))
    assert_one_line_error(run_cli("train", "--resume", "--run", str(run_dir)), f"{data}: data.train changed", "same size, sha256")
    data.rename(tmp_path / "moved.tsv")
    assert_one_line_error(run_cli("train", "--resume", "--run", str(run_dir)), f"{data}: data.train is missing")
    (tmp_path / "moved.tsv").rename(data)
    data.write_bytes(original)

    result = run_cli("train", "--resume", "--run", str(run_dir))
    assert result.exit_code == 0, result.output
    assert "done" in result.stdout and "warning" not in result.stdout


def test_a_run_saved_before_fingerprints_resumes_with_a_warning(tmp_path, monkeypatch):
    run_dir, _ = interrupted_run(tmp_path, monkeypatch)
    checkpoint = runs.load_checkpoint(run_dir / "last.pt")
    del checkpoint["trainer"]["data_files"]
    runs.save_checkpoint(checkpoint, run_dir / "last.pt")
    result = run_cli("train", "--resume", "--run", str(run_dir))
    assert result.exit_code == 0, result.output
    assert "saved without a fingerprint of its data files" in result.stdout


# --- zero updates is never a successful run ---


def test_fewer_batches_than_one_update_needs_is_an_error_that_says_what_to_change(tmp_path):
    result = train_seed(tmp_path, "train.accumulate=2")  # 5 pairs, batches of 5: one batch an epoch, two an update
    assert_one_line_error(
        result,
        "data.train (data/seed.tsv) has 5 training pairs = 1 batch of train.batch_size 5 per epoch, but one update "
        "needs 2 batches (1 process × train.accumulate 2): lower train.batch_size to at most 4",
    )
    assert not (tmp_path / "seed").exists()

    fixed = train_seed(tmp_path, "train.accumulate=2", "train.batch_size=4", "train.epochs=2")  # the advice works
    assert fixed.exit_code == 0, fixed.output
    assert runs.load_checkpoint(tmp_path / "seed" / "last.pt")["step"] == 2


def test_a_run_whose_every_batch_was_skipped_is_an_error_not_done(tmp_path, monkeypatch):
    poison_training_batches(monkeypatch, lambda call: True)
    result = train_seed(tmp_path, "train.on_nonfinite=skip", "train.epochs=3")
    assert_one_line_error(result, "training ended after 0 updates (all epochs done): nothing was trained; all 3 batches")
    assert "done in" not in result.stdout
    assert not (tmp_path / "seed").exists()


def test_two_processes_with_one_batch_an_epoch_stop_with_the_reason(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "seq2seq_cli",
               "train", "-c", "configs/seed.yaml", *[a for o in (*TINY, "train.device=cpu", f"train.runs_dir={tmp_path}")
                                                      for a in ("--set", o)]]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "one update needs 2 batches (2 processes × train.accumulate 1): lower train.batch_size to at most 4" in result.stderr
    assert "done in" not in result.stdout
    assert not (tmp_path / "seed").exists()

