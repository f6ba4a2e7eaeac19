"""Nothing lost, nothing crashes: interruption and resume, kill -9, full disks, NaN losses,
untrusted checkpoints, hostile input and concurrent readers."""

from __future__ import annotations

import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seq2seq_cli import runs
from tests.conftest import ROOT, run_cli
from tests.test_bad_input import assert_one_line_error

# A small model on part of the bundled corpus: a few seconds of real training with validations to interrupt.
SMALL = [
    "model.embed_dim=24", "model.hidden_size=24", "train.epochs=3", "train.validate_every=15",
    "train.batch_size=128", "data.max_len=12", "train.keep_last=2",
]


@pytest.fixture(scope="module")
def train_command(tmp_path_factory):
    """Builds ``s2s train`` command lines for SMALL on the bundled corpus's first 3,000 pairs (200 to validate)."""
    folder = tmp_path_factory.mktemp("corpus")
    for name, pairs in (("train.tsv", 3000), ("val.tsv", 200)):
        lines = (ROOT / "data/en-fr" / name).read_text(encoding="utf-8").splitlines()[:pairs]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = [f"data.train={folder / 'train.tsv'}", f"data.val={folder / 'val.tsv'}"]

    def command(runs_dir: Path, *overrides: str) -> list[str]:
        sets = [a for o in (*SMALL, *data, f"train.runs_dir={runs_dir}", *overrides) for a in ("--set", o)]
        return [sys.executable, "-m", "seq2seq_cli", "train", "--config", "configs/default.yaml", *sets]

    return command


def metrics_lines(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.is_file() else 0


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return runs.load_checkpoint(path)["model"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, train_command) -> Path:
    runs_dir = tmp_path_factory.mktemp("whole")
    subprocess.run(train_command(runs_dir), cwd=ROOT, check=True, capture_output=True)
    return runs_dir / "default"


def steps_in_first_epoch(command: list[str]) -> int:
    from seq2seq_cli.config import load_config
    from seq2seq_cli.data.batches import bucketed_batches
    from seq2seq_cli.data.prepare import prepare_data

    config = load_config(ROOT / "configs/default.yaml", command[command.index("--set") + 1::2])
    return len(bucketed_batches(prepare_data(config).train, config.train.batch_size, rng=None))


# Where the signal lands, chosen by call count (tests/interrupt_at.py), never by timing:
MOMENTS = {
    "mid-step": ("step", lambda command: 20, signal.SIGINT),
    "epoch boundary (last step of epoch 1)": ("step", steps_in_first_epoch, signal.SIGTERM),
    "mid-validation": ("validation", lambda command: 1, signal.SIGTERM),
    "while last.pt is written": ("checkpoint", lambda command: 2, signal.SIGINT),
}


@pytest.mark.parametrize("moment", MOMENTS)
def test_an_interrupted_run_resumes_to_exactly_the_uninterrupted_weights(uninterrupted, train_command, tmp_path, moment):
    """The README's promise: on the same machine, torch version and thread count, bit for bit."""
    kind, nth, signal_number = MOMENTS[moment]
    run_dir = tmp_path / "default"
    train = train_command(tmp_path)
    command = [sys.executable, "tests/interrupt_at.py", kind, str(nth(train)), signal_number.name, *train[3:]]
    process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert process.returncode == 128 + signal_number, process.stderr
    assert "Traceback" not in process.stderr
    assert f"Resume with: s2s train --resume -r {run_dir}" in process.stderr
    stopped_at = runs.load_checkpoint(run_dir / "last.pt")["step"]
    assert 0 < stopped_at < runs.load_checkpoint(uninterrupted / "last.pt")["step"]
    assert runs.read_state(run_dir) == {**runs.read_state(run_dir), "step": stopped_at, "finished": False}

    threads = torch.get_num_threads()
    torch.set_num_threads(1 if threads > 1 else 2)  # this process's own setting must not leak into the run
    try:
        result = run_cli("train", "--resume", "--run", str(run_dir))
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    assert f"resuming {run_dir} at step {stopped_at}" in result.stdout
    assert torch.get_num_threads() == threads
    kept = sorted(path.name for path in uninterrupted.glob("step*.pt"))  # train.keep_last: the last 2 validations
    assert len(kept) == 2 and sorted(path.name for path in run_dir.glob("step*.pt")) == kept
    for name in ("last.pt", "best.pt", *kept):
        expected, got = weights(uninterrupted / name), weights(run_dir / name)
        assert all(torch.equal(expected[k], got[k]) for k in expected), name
    whole = [(r["step"], r["train_loss"], r["val_loss"]) for r in runs.read_metrics(uninterrupted)]
    assert [(r["step"], r["train_loss"], r["val_loss"]) for r in runs.read_metrics(run_dir)] == whole
    assert (run_dir / "probes.jsonl").read_text() == (uninterrupted / "probes.jsonl").read_text()  # one line a validation
    assert runs.read_state(run_dir)["finished"] and runs.read_state(run_dir)["step"] == runs.read_state(uninterrupted)["step"]


def test_resuming_a_finished_run_says_so(uninterrupted):
    assert_one_line_error(run_cli("train", "--resume", "--run", str(uninterrupted)), "training already finished")
    newest = run_cli("train", "--resume", "--runs-dir", str(uninterrupted.parent))  # no RUN: the newest
    assert_one_line_error(newest, f"{uninterrupted}: training already finished")


def test_kill_9_at_random_moments_leaves_loadable_checkpoints(train_command, tmp_path):
    rng = random.Random(7)
    run_dir = tmp_path / "default"
    for attempt in range(4):
        if attempt == 0:
            command = train_command(tmp_path)
        else:
            command = [sys.executable, "-m", "seq2seq_cli", "train", "--resume", "--run", str(run_dir)]
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if attempt == 0:
            wait_for(lambda: (run_dir / "last.pt").is_file())
        time.sleep(rng.uniform(0.1, 1.5))
        process.kill()
        process.wait()
        for checkpoint in ("best.pt", "last.pt"):
            assert runs.load_checkpoint(run_dir / checkpoint)["model"]
        assert run_cli("translate", "--run", str(run_dir), "the red car is small").exit_code == 0
    finished, saved = runs.load_checkpoint(run_dir / "last.pt")["trainer"]["finished"], (run_dir / "last.pt").read_bytes()
    result = run_cli("train", "--resume", "--run", str(run_dir))  # never refused: a killed trainer holds no lock
    assert not list(run_dir.glob(".*.tmp"))  # what a killed write left is removed by the next trainer
    if finished:  # the last kill came after training's end: resuming says so and changes nothing
        assert_one_line_error(result, f"{run_dir}: training already finished (all epochs done)")
        assert (run_dir / "last.pt").read_bytes() == saved
    else:
        assert result.exit_code == 0, result.output
        assert "done" in result.stdout and runs.load_checkpoint(run_dir / "last.pt")["trainer"]["finished"]


def test_a_full_disk_is_a_clear_error_and_the_previous_checkpoint_survives(train_command, tmp_path):
    import resource

    interrupted = subprocess.Popen(train_command(tmp_path, "train.name=full"), cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    full = tmp_path / "full"
    wait_for(lambda: metrics_lines(full) >= 1)
    interrupted.send_signal(signal.SIGINT)
    interrupted.wait()
    saved = (full / "last.pt").read_bytes()

    def small_disk():  # files may grow to 64 KiB: every checkpoint write fails as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    result = subprocess.run([sys.executable, "-m", "seq2seq_cli", "train", "--resume", "--run", str(full)], cwd=ROOT,
                            capture_output=True, text=True, preexec_fn=small_disk)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "the previous one is intact" in result.stderr
    assert (full / "last.pt").read_bytes() == saved
    assert not list(full.glob(".*.tmp"))


def test_a_really_full_disk_while_training_is_a_one_line_error_and_the_checkpoints_survive(train_command, tmp_path):
    """As above, on a disk that fills up (a small tmpfs) rather than a limit on file sizes."""
    from tests.test_crash_safety import assert_one_error_line, fill, small_disk

    with small_disk(tmp_path / "disk", "32m") as disk:
        interrupted = subprocess.Popen(train_command(disk, "train.name=full"), cwd=ROOT,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        full = disk / "full"
        wait_for(lambda: metrics_lines(full) >= 1)
        interrupted.send_signal(signal.SIGINT)
        interrupted.wait()
        saved = {name: (full / name).read_bytes() for name in ("last.pt", "best.pt", "config.yaml", "vocab.src.txt")}
        fill(disk, leave=len(saved["best.pt"]) // 2)  # room for the logs' lines, not for one more checkpoint
        result = subprocess.run([sys.executable, "-m", "seq2seq_cli", "train", "--resume", "--run", str(full)], cwd=ROOT,
                                capture_output=True, text=True)
        assert_one_error_line(result, "could not save checkpoint (No space left on device); the previous one is intact")
        assert {name: (full / name).read_bytes() for name in saved} == saved
        assert not list(full.glob(".*.tmp"))
        assert runs.load_checkpoint(full / "last.pt")["trainer"]["step"] == runs.read_state(full)["step"]


def test_a_full_disk_when_a_run_starts_is_a_one_line_error_and_leaves_no_run_folder(tmp_path):
    """config.yaml and the vocabularies are written whole or not at all; a run that could not save them is no run."""
    from tests.test_crash_safety import fill, small_disk

    with small_disk(tmp_path / "disk", "64k") as disk:
        ballast = fill(disk)
        result = run_cli("train", "-c", "configs/seed.yaml", "--set", f"train.runs_dir={disk / 'runs'}")
        assert_one_line_error(result, f"{disk / 'runs' / 'seed' / 'config.yaml'}: cannot write (No space left on device)")
        assert not (disk / "runs" / "seed").exists() and {p.name for p in disk.rglob("*") if p.is_file()} == {ballast.name}


def test_a_second_trainer_of_a_run_is_refused_naming_the_holder(seed_run, tmp_path):
    run_dir = _copy_run(seed_run, tmp_path / "held")
    before = {path.name: path.read_bytes() for path in run_dir.iterdir() if path.name != runs.LOCK}
    with runs.lock_run(run_dir):
        result = run_cli("train", "--resume", "--run", str(run_dir))
        assert_one_line_error(result, f"{run_dir}: another s2s process (pid {os.getpid()}) is training this run")
    assert {path.name: path.read_bytes() for path in run_dir.iterdir() if path.name != runs.LOCK} == before


def test_a_resume_while_the_run_trains_is_refused_and_a_killed_trainer_leaves_no_lock(train_command, tmp_path):
    run_dir = tmp_path / "default"
    process = subprocess.Popen(train_command(tmp_path, "train.epochs=8"), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (run_dir / "last.pt").is_file())
        assert runs.lock_holder(run_dir) == process.pid
        refused = run_cli("train", "--resume", "--run", str(run_dir))
        assert process.poll() is None, "the run finished before the second trainer tried"
        assert_one_line_error(refused, f"{run_dir}: another s2s process (pid {process.pid}) is training this run")
    finally:
        process.kill()
        process.wait()
    with runs.lock_run(run_dir):  # the kernel dropped the killed trainer's lock: the run can be resumed
        pass


def test_an_unwritable_runs_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_cli("train", "-c", "configs/seed.yaml", "--set", f"train.runs_dir={blocker / 'runs'}")
    assert_one_line_error(result, "cannot create a run folder")


def test_a_non_finite_loss_stops_and_names_the_step_without_touching_saved_weights(tmp_path, monkeypatch):
    from seq2seq_cli.training import updates as training  # the update step looks batch_loss up there

    real_loss, calls = training.batch_loss, []

    def poisoned(model, batch, *args):
        calls.append(model.training)  # validation batches do not count
        loss, n = real_loss(model, batch, *args)
        return (loss * float("nan"), n) if model.training and sum(calls) == 4 else (loss, n)

    monkeypatch.setattr(training, "batch_loss", poisoned)
    result = run_cli("train", "-c", "configs/seed.yaml", "--set", f"train.runs_dir={tmp_path}",
                     "--set", "train.validate_every=1", "--set", "train.epochs=6")
    assert_one_line_error(result, "non-finite loss (nan) or gradient at step 4 (epoch 4, batch 1)")
    run_dir = tmp_path / "seed"
    assert runs.load_checkpoint(run_dir / "last.pt")["step"] == 3
    assert all(torch.isfinite(t).all() for t in weights(run_dir / "best.pt").values())


def test_non_finite_batches_can_be_skipped(tmp_path, monkeypatch):
    from seq2seq_cli.training import updates as training  # the update step looks batch_loss up there

    real_loss, calls = training.batch_loss, []

    def poisoned(model, batch, *args):
        calls.append(model.training)
        loss, n = real_loss(model, batch, *args)
        return (loss * float("inf"), n) if model.training and sum(calls) == 2 else (loss, n)

    monkeypatch.setattr(training, "batch_loss", poisoned)
    result = run_cli("train", "-c", "configs/seed.yaml", "--set", f"train.runs_dir={tmp_path}",
                     "--set", "train.on_nonfinite=skip", "--set", "train.epochs=4")
    assert result.exit_code == 0, result.output
    assert "batch skipped" in result.stdout
    assert all(torch.isfinite(t).all() for t in weights(tmp_path / "seed" / "last.pt").values())


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _copy_run(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


def test_a_malicious_checkpoint_is_refused_and_runs_nothing(seed_run, tmp_path):
    run_dir = _copy_run(seed_run, tmp_path / "planted")
    marker = tmp_path / "pwned"
    with open(run_dir / "best.pt", "wb") as handle:
        pickle.dump({"model": _Exploit(marker)}, handle)
    result = run_cli("translate", "--run", str(run_dir), "i am a student")
    assert_one_line_error(result, "best.pt: refused to load: not a plain s2s checkpoint")
    assert not marker.exists()


def test_a_truncated_checkpoint_is_a_clear_error(seed_run, tmp_path):
    run_dir = _copy_run(seed_run, tmp_path / "cut")
    data = (run_dir / "best.pt").read_bytes()
    (run_dir / "best.pt").write_bytes(data[: len(data) // 2])
    assert_one_line_error(run_cli("translate", "--run", str(run_dir), "i am a student"), "unreadable checkpoint")


def test_a_checkpoint_from_an_incompatible_version_is_a_clear_error(seed_run, tmp_path):
    run_dir = _copy_run(seed_run, tmp_path / "old")
    payload = torch.load(run_dir / "best.pt", weights_only=True)
    torch.save({**payload, "format": 0}, run_dir / "best.pt")
    assert_one_line_error(run_cli("translate", "--run", str(run_dir), "i am a student"), "incompatible s2s version")


def test_translate_never_reads_a_half_written_checkpoint(train_command, tmp_path):
    from seq2seq_cli.decoding.translator import Translator

    command = train_command(tmp_path, "train.validate_every=5", "train.epochs=8")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_dir = tmp_path / "default"
    try:
        wait_for(lambda: (run_dir / "best.pt").is_file())
        loads = 0
        while process.poll() is None and loads < 150:
            Translator.from_run(run_dir).translate(["the red car is small"])
            loads += 1
        assert loads > 10
    finally:
        process.kill()
        process.wait()
