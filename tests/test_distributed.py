"""torchrun with two CPU processes (gloo) trains to the same weights as one process with the same global batch."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from seq2seq_cli import runs
from tests.conftest import ROOT, run_cli
from tests.test_robustness import metrics_lines, wait_for

SETTINGS = [
    "model.embed_dim=16", "model.hidden_size=16", "model.dropout=0.0", "train.epochs=2", "train.batch_size=16",
    "train.device=cpu", "train.lr_decay=1.0", "train.threads=1",
]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp") / "pairs.tsv"
    lines = (ROOT / "data" / "en-fr" / "train.tsv").read_text(encoding="utf-8").splitlines()[:240]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def settings(corpus, runs_dir, *extra):
    return [
        a
        for o in (*SETTINGS, f"data.train={corpus}", "data.val=null", f"train.runs_dir={runs_dir}", *extra)
        for a in ("--set", o)
    ]


def torchrun(*arguments: str) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "seq2seq_cli", *arguments
    ]


GLOO_ABORT = "terminate called without an active exception"


def launch(command: list[str], fresh: Path | None = None) -> subprocess.CompletedProcess:
    """Run a torchrun command; once in many CI runs a worker died in gloo's C++ with GLOO_ABORT (never
    reproduced here in 40 runs): that one signature is retried once, with a warning, and
    faulthandler prints where the worker was, so the next report says more than "SIGABRT"."""
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    if result.returncode != 0 and GLOO_ABORT in result.stderr:
        warnings.warn(f"a torchrun worker aborted in gloo; retrying once:\n{result.stderr[-4000:]}", stacklevel=2)
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    return result


def test_two_processes_equal_one_process_with_the_same_global_batch(small_corpus, tmp_path):
    result = launch(torchrun("train", "--config", "configs/default.yaml", *settings(small_corpus, tmp_path / "ddp")),
                    fresh=tmp_path / "ddp")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    single = run_cli("train", "--config", "configs/default.yaml", *settings(small_corpus, tmp_path / "one", "train.accumulate=2"))
    assert single.exit_code == 0, single.output

    ddp_run, one_run = tmp_path / "ddp" / "default", tmp_path / "one" / "default"
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == ["default"]  # only rank 0 wrote
    ddp_weights, one_weights = runs.load_checkpoint(ddp_run / "last.pt"), runs.load_checkpoint(one_run / "last.pt")
    assert ddp_weights["step"] == one_weights["step"] > 5
    for name, tensor in one_weights["model"].items():
        torch.testing.assert_close(ddp_weights["model"][name], tensor, atol=2e-5, rtol=1e-4)
    ddp_metrics, one_metrics = runs.read_metrics(ddp_run), runs.read_metrics(one_run)
    assert [r["step"] for r in ddp_metrics] == [r["step"] for r in one_metrics]
    for ours, theirs in zip(ddp_metrics, one_metrics):
        assert ours["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-4)
        assert ours["val_bleu"] == pytest.approx(theirs["val_bleu"], abs=0.5)


def test_ctrl_c_under_torchrun_resumes_to_exactly_the_uninterrupted_weights(small_corpus, tmp_path):
    """Dropout on, so every process's own random stream has to come back too."""
    extra = ("model.dropout=0.3", "train.epochs=12", "train.validate_every=8")
    train = torchrun("train", "--config", "configs/default.yaml", *settings(small_corpus, tmp_path / "whole", *extra))
    whole = launch(train, fresh=tmp_path / "whole")
    assert whole.returncode == 0, whole.stdout[-2000:] + whole.stderr[-3000:]

    run_dir = tmp_path / "cut" / "default"
    train = torchrun("train", "--config", "configs/default.yaml", *settings(small_corpus, tmp_path / "cut", *extra))
    process = subprocess.Popen(train, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for(lambda: metrics_lines(run_dir) >= 1)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: every process gets it
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0 and f"Resume with: s2s train --resume -r {run_dir}" in stderr, stderr[-3000:]
    stopped_at = runs.load_checkpoint(run_dir / "last.pt")["step"]
    assert 0 < stopped_at < runs.load_checkpoint(tmp_path / "whole" / "default" / "last.pt")["step"]

    # resuming again after an abort reaches the same weights
    resumed = launch(torchrun("train", "--resume", "-r", str(run_dir)))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming {run_dir} at step {stopped_at}" in resumed.stdout
    expected, got = (runs.load_checkpoint(d / "last.pt")["model"] for d in (tmp_path / "whole" / "default", run_dir))
    assert all(torch.equal(expected[name], got[name]) for name in expected)
    steps = [(r["step"], r["train_loss"], r["val_loss"]) for r in runs.read_metrics(tmp_path / "whole" / "default")]
    assert [(r["step"], r["train_loss"], r["val_loss"]) for r in runs.read_metrics(run_dir)] == steps


def test_compile_falls_back_with_a_warning_where_it_fails(tmp_path, monkeypatch):
    def broken_compile(model, *args, **kwargs):
        def fails(*a, **k):
            raise RuntimeError("no compiler here")
        return fails

    monkeypatch.setattr(torch, "compile", broken_compile)
    result = run_cli("train", "-c", "configs/seed.yaml", "--set", "train.compile=true", "--set", "train.epochs=2",
                     "--set", f"train.runs_dir={tmp_path}")
    assert result.exit_code == 0, result.output
    assert "torch.compile failed (RuntimeError); training without it" in result.stdout


def test_an_unavailable_device_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = run_cli("train", "-c", "configs/seed.yaml", "--set", "train.device=cuda", "--set", f"train.runs_dir={tmp_path}")
    assert result.exit_code == 2 and "train.device: cuda is not available" in result.stderr


@pytest.mark.parametrize("precision", ["bf16"])
def test_mixed_precision_trains_on_the_cpu(tmp_path, precision):
    result = run_cli("train", "-c", "configs/seed.yaml", "--set", f"train.precision={precision}",
                     "--set", "train.epochs=3", "--set", f"train.runs_dir={tmp_path}")
    assert result.exit_code == 0, result.output
    weights = runs.load_checkpoint(tmp_path / "seed" / "last.pt")["model"]
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in weights.values())


def test_training_on_cuda_keeps_attention_off_cudnns_per_shape_kernel(monkeypatch):
    """bench/GPU.md: with cuDNN's attention kernel the Transformer trained 4.4x slower in bf16 on an H200."""
    from seq2seq_cli.training.distributed import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    was = torch.backends.cuda.cudnn_sdp_enabled()
    try:
        torch.backends.cuda.enable_cudnn_sdp(True)
        assert resolve_device("cuda") == torch.device("cuda")
        assert not torch.backends.cuda.cudnn_sdp_enabled()
    finally:
        torch.backends.cuda.enable_cudnn_sdp(was)
