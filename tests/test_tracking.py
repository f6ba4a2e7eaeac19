"""Experiment tracking: TensorBoard logging (train.log_to), ``s2s runs`` and ``s2s compare``."""

from __future__ import annotations

import io
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from seq2seq_cli import runs
from seq2seq_cli.training.tracking import CELL, SCALARS, TENSORBOARD_DIR
from seq2seq_cli.viz.plot import CURVES_SIZE, comparison_figure, validation_curves
from seq2seq_cli.viz.probes import read_probes
from tests.conftest import ROOT, run_cli, train_seed_run
from tests.test_bad_input import assert_one_line_error

pytest.importorskip("tensorboard", reason="the tensorboard extra is part of the test extra")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

TENSORBOARD = "train.log_to=[tensorboard]"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    """A runs folder with two finished runs: ``tb`` (location attention, 6 epochs, logged to
    TensorBoard) and ``dot`` (Luong dot attention, 3 epochs)."""
    runs_dir = tmp_path_factory.mktemp("tracked")
    train_seed_run(runs_dir, [TENSORBOARD, "train.epochs=6", "train.name=tb"])
    train_seed_run(runs_dir, ["model.attention=luong-dot", "train.epochs=3", "train.name=dot"])
    return runs_dir


def events(run_dir: Path) -> EventAccumulator:
    """Everything TensorBoard would show for a run (every image kept, not a sample of 4)."""
    accumulator = EventAccumulator(str(run_dir / TENSORBOARD_DIR), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def test_tensorboard_gets_every_validations_scores_at_its_step(two_runs):
    records = runs.read_metrics(two_runs / "tb")
    logged = events(two_runs / "tb")
    assert [r["step"] for r in records] == list(range(1, 7))
    for key, tag in SCALARS.items():
        scalars = logged.Scalars(tag)
        assert [s.step for s in scalars] == [r["step"] for r in records], tag
        assert [s.value for s in scalars] == pytest.approx([r[key] for r in records], rel=1e-5, abs=1e-7), tag


def test_tensorboard_gets_each_probe_sentences_attention_as_an_image(two_runs):
    probes = read_probes(two_runs / "tb")
    logged = events(two_runs / "tb")
    sentences = [p["source"] for p in probes[0]["probes"]]
    assert sentences and len(logged.Tags()["images"]) == len(sentences)
    for number, sentence in enumerate(sentences):
        images = logged.Images(f"attention/{number + 1} {sentence}")
        assert [i.step for i in images] == [p["step"] for p in probes]
        for image, record in zip(images, probes):
            probe = record["probes"][number]
            picture = Image.open(io.BytesIO(image.encoded_image_string))
            # source words across, output words (with <eos>) down, CELL pixels a weight
            assert picture.size == (CELL * len(probe["source_tokens"]), CELL * len(probe["tokens"]))
    translations = [t for t in logged.Tags()["tensors"] if t.startswith("translation/")]
    assert len(translations) == len(sentences)


def test_no_tensorboard_folder_unless_asked(two_runs):
    assert not (two_runs / "dot" / TENSORBOARD_DIR).exists()


def test_missing_tensorboard_is_one_line_before_training(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # what `import tensorboard` meets when it is not installed
    result = run_cli("train", "-c", "configs/seed.yaml", "--set", TENSORBOARD, "--set", f"train.runs_dir={tmp_path / 'runs'}")
    expected = 'configs/seed.yaml: train.log_to: tensorboard is not installed: pip install "seq2seq-cli[tensorboard]"'
    assert_one_line_error(result, expected)
    assert not (tmp_path / "runs").exists()  # nothing was started


def test_an_unknown_tracker_is_one_line(tmp_path):
    result = run_cli("train", "-c", "configs/seed.yaml", "--set", "train.log_to=[wandb]", "--set", f"train.runs_dir={tmp_path}")
    assert_one_line_error(result, "train.log_to[0] must be one of tensorboard; got 'wandb'")


def test_resuming_with_tensorboard_hides_what_the_interrupted_run_logged_past_its_checkpoint(tmp_path):
    """Curves after --resume match metrics.jsonl: one point a validation, none left over from the
    stretch an interrupted run logged after its last checkpoint (purge_step)."""
    run_dir = tmp_path / "seed"
    train = ["train", "-c", "configs/seed.yaml", *("--set", TENSORBOARD, "--set", "train.epochs=6"),
             "--set", f"train.runs_dir={tmp_path}"]
    command = [sys.executable, "tests/interrupt_at.py", "validation", "3", "SIGINT", *train]
    process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert process.returncode == 128 + signal.SIGINT, process.stderr
    stopped_at = runs.load_checkpoint(run_dir / runs.LAST)["step"]
    _log_orphan(run_dir, "loss/validation", stopped_at + 1, 999.0)  # as if killed after logging, before saving
    time.sleep(1.1)  # event files are read in name order, and their names start with the second they were made

    result = run_cli("train", "--resume", "--run", str(run_dir))
    assert result.exit_code == 0, result.output
    records = runs.read_metrics(run_dir)
    scalars = events(run_dir).Scalars("loss/validation")
    assert [s.step for s in scalars] == [r["step"] for r in records] == list(range(1, 7))
    assert 999.0 not in [s.value for s in scalars]
    assert len(list((run_dir / TENSORBOARD_DIR).iterdir())) == 2  # one events file a stretch of training


def _log_orphan(run_dir: Path, tag: str, step: int, value: float) -> None:
    """Append one scalar to the interrupted run's events file, past its last checkpoint."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.record_writer import RecordWriter

    (events_file,) = (run_dir / TENSORBOARD_DIR).iterdir()
    event = Event(wall_time=time.time(), step=step, summary=Summary(value=[Summary.Value(tag=tag, simple_value=value)]))
    with open(events_file, "ab") as handle:
        RecordWriter(handle).write(event.SerializeToString())


def test_runs_lists_each_run_with_its_model_steps_and_best_bleu(two_runs):
    result = run_cli("runs", "--runs-dir", str(two_runs), "--json")
    assert result.exit_code == 0, result.output
    listed = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(listed) == {"tb", "dot"}
    for name, model, steps in (("tb", "gru location 128", 6), ("dot", "gru luong-dot 128", 3)):
        records = runs.read_metrics(two_runs / name)
        row = listed[name]
        assert (row["model"], row["steps"], row["state"]) == (model, steps, "finished")
        assert row["best_bleu"] == max(r["val_bleu"] for r in records)
        assert row["best_val_loss"] == min(r["val_loss"] for r in records)
        assert row["size_bytes"] == sum(p.stat().st_size for p in (two_runs / name).rglob("*") if p.is_file())

    table = run_cli("runs", "--runs-dir", str(two_runs))
    assert table.exit_code == 0, table.output
    rows = {line.split()[0]: line for line in table.stdout.splitlines() if line.split()[:1] in (["tb"], ["dot"])}
    assert "gru location 128" in rows["tb"] and " 6 " in rows["tb"] and "finished" in rows["tb"]
    assert f"{listed['dot']['best_bleu']:.2f}" in rows["dot"] and "just now" in rows["dot"]


def test_runs_reads_a_runs_state_and_falls_back_to_last_pt_for_older_runs(two_runs, tmp_path):
    stopped = tmp_path / "stopped"
    shutil.copytree(two_runs / "dot", stopped)
    state = json.loads((stopped / runs.STATE).read_text())
    assert state["finished"] is True and state["step"] == 3 and state["stop_reason"] == "all epochs done"
    (stopped / runs.STATE).write_text(json.dumps({**state, "finished": False}))  # as an interrupted run leaves it
    result = run_cli("runs", "--runs-dir", str(tmp_path), "--json")
    assert [row["state"] for row in json.loads(result.stdout)] == ["unfinished"]
    (stopped / runs.STATE).unlink()  # a run from before state.json: last.pt says it finished
    result = run_cli("runs", "--runs-dir", str(tmp_path), "--json")
    assert [row["state"] for row in json.loads(result.stdout)] == ["finished"]


def test_runs_in_an_empty_or_missing_folder(tmp_path):
    empty = run_cli("runs", "--runs-dir", str(tmp_path))
    assert empty.exit_code == 0 and f"no runs in {tmp_path}/ yet" in empty.stderr
    assert json.loads(run_cli("runs", "--runs-dir", str(tmp_path), "--json").stdout) == []
    assert_one_line_error(run_cli("runs", "--runs-dir", str(tmp_path / "nowhere")), "nowhere: no such folder of runs")


def test_compare_draws_one_curve_per_run_from_its_metrics(two_runs, tmp_path):
    out = tmp_path / "curves.png"
    result = run_cli("compare", "-r", "tb", "-r", "dot", "--runs-dir", str(two_runs), "--output", str(out), "--metric", "loss")
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stderr
    with Image.open(out) as picture:
        picture.verify()
        assert picture.format == "PNG" and picture.size == (CURVES_SIZE[0] * 150, CURVES_SIZE[1] * 150)

    figure = comparison_figure(validation_curves([two_runs / "tb", two_runs / "dot"], "loss"), "step", "loss")
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["tb", "dot"]
    for line, name in zip(lines, ("tb", "dot")):
        records = runs.read_metrics(two_runs / name)
        assert list(line.get_xdata()) == [r["step"] for r in records]
        assert list(line.get_ydata()) == [r["val_loss"] for r in records]
    assert [label.get_text() for label in figure.axes[0].get_legend().get_texts()] == ["tb", "dot"]


def test_compare_against_minutes_and_by_chrf(two_runs):
    (curve,) = validation_curves([two_runs / "tb"], "chrf", "minutes")  # one run is a plot too
    records = runs.read_metrics(two_runs / "tb")
    assert curve.x == [r["elapsed"] / 60 for r in records] and curve.values == [r["val_chrf"] for r in records]


@pytest.mark.parametrize("arguments, message", [
    (["-r", "tb", "-r", "nope"], "nope: no such run"),
    (["-r", "tb", "--output", "{tmp}/c.jpg"], "c.jpg: unsupported file type .jpg; use .png, .svg or .pdf"),
    (["-r", "tb", "--metric", "accuracy"], "'accuracy' is not one of 'bleu', 'chrf', 'loss'"),
    (["-r", "tb", "--x", "epochs"], "'epochs' is not one of 'step', 'minutes'"),
    (["-r", "tb", "-r", "{tmp}/empty"], "empty: no validation BLEU in metrics.jsonl yet"),
])
def test_compare_mistakes_are_one_line(two_runs, tmp_path, arguments, message):
    empty = tmp_path / "empty"  # a run that has not validated yet
    empty.mkdir()
    shutil.copy(two_runs / "tb" / runs.CONFIG_FILE, empty / runs.CONFIG_FILE)
    arguments = [a.format(tmp=tmp_path) for a in arguments]
    out = [] if "--output" in arguments else ["--output", str(tmp_path / "c.png")]
    assert_one_line_error(run_cli("compare", *arguments, *out, "--runs-dir", str(two_runs)), message)
    assert not list(tmp_path.glob("c.*"))


def test_runs_and_compare_never_import_torch(two_runs, tmp_path):
    """Listing runs reads config.yaml and metrics.jsonl only: instant, however big the checkpoints."""
    script = (
        "import sys\nfrom seq2seq_cli.cli import app\n"
        f"for args in (['runs', '--runs-dir', {str(two_runs)!r}], "
        f"['compare', '-r', 'tb', '-r', 'dot', '--runs-dir', {str(two_runs)!r}, '-o', {str(tmp_path / 'c.png')!r}]):\n"
        "    try:\n        app(args)\n    except SystemExit as exc:\n        assert not exc.code, exc.code\n"
        "print('torch' in sys.modules)\n"
    )
    process = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip().splitlines()[-1] == "False"
