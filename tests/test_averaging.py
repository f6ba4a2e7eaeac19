"""Checkpoint averaging: a run keeps its last and best validations, `s2s average` means them, and
translate, evaluate and the Python API use the result through --checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

import seq2seq_cli as s2s
from seq2seq_cli import runs
from tests.conftest import run_cli, train_seed_run
from tests.test_bad_input import assert_one_line_error


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory):
    """The seed model validated every 10 steps over 60, keeping the last 3 and the best 3 validations."""
    runs_dir = tmp_path_factory.mktemp("averaging")
    return train_seed_run(runs_dir, ["train.keep_last=3", "train.keep_best=3", "train.validate_every=10"])


def weights(path):
    return runs.load_checkpoint(path)["model"]


def score_with(run_dir, *checkpoint: str) -> float:
    result = run_cli("translate", "--run", str(run_dir), "--json", *checkpoint, "i am a student")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["hypotheses"][0]["score"]


def test_training_keeps_the_last_n_validations(kept_run):
    steps = [record["step"] for record in runs.read_metrics(kept_run)]
    assert steps == [10, 20, 30, 40, 50, 60]
    assert sorted(p.name for p in kept_run.glob("step*.pt")) == ["step40.pt", "step50.pt", "step60.pt"]
    assert len(list(kept_run.glob("best-step*.pt"))) == 3
    assert torch.equal(weights(kept_run / "step60.pt")["decoder.out.weight"], weights(kept_run / "last.pt")["decoder.out.weight"])


def test_average_last_is_the_mean_of_those_checkpoints(kept_run):
    result = run_cli("average", "-r", str(kept_run), "--last", "3", "--no-choose")
    assert result.exit_code == 0, result.output
    assert "steps 40, 50, 60" in result.stderr
    assert not (kept_run / runs.DEFAULT).exists()  # --no-choose: best.pt stays the default
    averaged = weights(kept_run / "average-last3.pt")
    parts = [weights(kept_run / f"step{step}.pt") for step in (40, 50, 60)]
    for key, tensor in averaged.items():
        assert tensor.dtype == parts[0][key].dtype
        assert torch.allclose(tensor, sum(p[key].double() for p in parts).div(3).to(tensor.dtype), atol=1e-7), key
    assert not torch.equal(averaged["decoder.out.weight"], parts[-1]["decoder.out.weight"])


def test_average_best_takes_the_best_validations_by_the_runs_metric(kept_run):
    records = runs.read_metrics(kept_run)
    best_two = sorted(sorted(records, key=lambda r: r["val_loss"])[:2], key=lambda r: r["step"])
    result = run_cli("average", "-r", str(kept_run), "--best", "2", "--output", str(kept_run / "mine.pt"))
    assert result.exit_code == 0, result.output
    assert runs.load_checkpoint(kept_run / "mine.pt")["averaged_steps"] == [r["step"] for r in best_two]


def test_translate_evaluate_and_the_api_use_the_checkpoint_asked_for(kept_run):
    assert run_cli("average", "-r", str(kept_run), "--last", "3", "--no-choose").exit_code == 0
    best, averaged = score_with(kept_run), score_with(kept_run, "--checkpoint", "average-last3.pt")
    assert averaged != best  # other weights, another log-probability for the same output
    assert score_with(kept_run, "--checkpoint", str(kept_run / "average-last3.pt")) == averaged  # a path works too
    api = s2s.load(kept_run, checkpoint="average-last3.pt").translate("i am a student")[0]
    assert api.hypotheses[0].score == pytest.approx(averaged, abs=1e-4)
    result = run_cli("evaluate", "--run", str(kept_run), "--data", "data/seed.tsv", "--checkpoint", "step40.pt")
    assert result.exit_code == 0, result.output


def test_averaging_mistakes_are_one_line_errors(kept_run):
    assert_one_line_error(run_cli("average", "-r", str(kept_run), "--last", "4"), "train.keep_last: 3", "--last 4")
    assert_one_line_error(run_cli("average", "-r", str(kept_run), "--best", "5"), "train.keep_best: 3")
    assert_one_line_error(run_cli("average", "-r", str(kept_run), "--last", "1"), "at least 2")
    assert_one_line_error(run_cli("average", "-r", str(kept_run)), "--last N or --best N")
    assert_one_line_error(run_cli("average", "-r", str(kept_run), "--last", "2", "--best", "2"), "one of them")
    saved = (kept_run / "best.pt").read_bytes()
    assert_one_line_error(run_cli("average", "-r", str(kept_run), "--last", "2", "--output", str(kept_run / "best.pt")),
                          "one of the run's own checkpoints")
    assert (kept_run / "best.pt").read_bytes() == saved
    assert_one_line_error(run_cli("translate", "--run", str(kept_run), "--checkpoint", "nope.pt", "hi"),
                          "nope.pt: no such checkpoint", "best.pt")


def test_a_run_without_kept_checkpoints_says_how_to_keep_them(seed_run):
    assert_one_line_error(run_cli("average", "-r", str(seed_run), "--last", "2"), "train.keep_last: 0")


def test_average_makes_the_average_the_runs_default_only_when_it_wins_on_validation(kept_run):
    result = run_cli("average", "-r", str(kept_run), "--last", "2")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stderr.splitlines() if line.startswith("validation BLEU"))
    scores = {name: float(bleu) for name, bleu in (part.split() for part in line.split(";")[0][16:].split(", "))}
    assert set(scores) == {"best.pt", "average-last2.pt"}
    won = scores["average-last2.pt"] > scores["best.pt"]
    assert (kept_run / runs.DEFAULT).exists() == won
    assert runs.default_checkpoint(kept_run) == ("average-last2.pt" if won else "best.pt")
    assert ("now translates with" if won else "keeps best.pt") in line
    (kept_run / runs.DEFAULT).unlink(missing_ok=True)


def test_translate_evaluate_and_runs_use_the_runs_default_checkpoint(kept_run):
    best = weights(kept_run / "best.pt")["decoder.out.weight"]
    kept = [f"step{step}.pt" for step in (40, 50, 60)]
    other = next(name for name in kept if not torch.equal(weights(kept_run / name)["decoder.out.weight"], best))
    runs.set_default_checkpoint(kept_run, other, {"chosen_by": "a test"})
    try:
        default = score_with(kept_run)
        assert default == score_with(kept_run, "--checkpoint", other) != score_with(kept_run, "--checkpoint", "best.pt")
        assert s2s.load(kept_run).translate("i am a student")[0].hypotheses[0].score == pytest.approx(default, abs=1e-4)
        listed = run_cli("runs", "--runs-dir", str(kept_run.parent), "--json")
        assert json.loads(listed.stdout)[0]["checkpoint"] == other
        table = run_cli("runs", "--runs-dir", str(kept_run.parent))
        assert other.removesuffix(".pt") in table.stdout and "weights" in table.stdout
    finally:
        (kept_run / runs.DEFAULT).unlink()
    assert score_with(kept_run) == score_with(kept_run, "--checkpoint", "best.pt")


def test_a_damaged_default_record_is_a_one_line_error_and_runs_still_lists_the_run(kept_run):
    (kept_run / runs.DEFAULT).write_text('{"checkpoint": "gone.pt"}')
    try:
        assert_one_line_error(run_cli("translate", "--run", str(kept_run), "hi"), "default.json", "gone.pt", "delete it")
        listed = run_cli("runs", "--runs-dir", str(kept_run.parent), "--json")
        assert listed.exit_code == 0 and json.loads(listed.stdout)[0]["checkpoint"].startswith("?")
        (kept_run / runs.DEFAULT).write_text("not json")
        assert_one_line_error(run_cli("translate", "--run", str(kept_run), "hi"), "default.json: unreadable")
    finally:
        (kept_run / runs.DEFAULT).unlink()
