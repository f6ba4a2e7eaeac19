"""Checkpoint averaging: the mean of several validations' weights, as one checkpoint.

Late in training the optimiser keeps stepping across a minimum rather than into it; the mean of
the weights it passed through sits nearer the middle and often translates better than any one
of them (Vaswani et al. 2017 average their last checkpoints; OpenNMT-py and fairseq ship the
same tool). The run keeps what can be averaged: ``train.keep_last`` saves ``step<N>.pt`` for the
latest validations, ``train.keep_best`` saves ``best-step<N>.pt`` for the best ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from seq2seq_cli import runs
from seq2seq_cli.config import load_run_config
from seq2seq_cli.errors import RunError
from seq2seq_cli.training.scoreboard import Scoreboard

_STEP = re.compile(r"^step(\d+)\.pt$")
_BEST_STEP = re.compile(r"^best-step(\d+)\.pt$")


@dataclass
class Averaged:
    """What ``s2s average`` wrote."""

    path: Path
    steps: list[int]  # the validations averaged, oldest first
    chosen_by: str  # "last 5" or "best 5"


def average_run(run_dir: Path, last: int | None = None, best: int | None = None, out: Path | None = None) -> Averaged:
    """Average the run's last or best ``N`` validation checkpoints into ``out`` (default: in the run folder)."""
    if (last is None) == (best is None):
        raise RunError("say which checkpoints to average: --last N or --best N (one of them)")
    count = last if last is not None else best
    if count < 2:
        raise RunError(f"--{'last' if last else 'best'} {count}: averaging needs at least 2 checkpoints")
    steps = _last_steps(run_dir, count) if last is not None else _best_steps(run_dir, count)
    name = f"{'last' if last is not None else 'best'}{count}"
    out = out if out is not None else run_dir / f"average-{name}.pt"
    _check_not_a_training_file(out, run_dir)
    template = runs.step_checkpoint if last is not None else runs.ranked_checkpoint
    paths = [run_dir / template(step) for step in sorted(steps)]
    weights = average_weights(paths)
    runs.save_checkpoint({"model": weights, "step": max(steps), "averaged_steps": sorted(steps)}, out)
    return Averaged(out, sorted(steps), f"{'last' if last is not None else 'best'} {count}")


@dataclass
class Choice:
    """The run's default checkpoint after ``s2s average`` compared it with the average on validation."""

    scores: dict[str, float]  # checkpoint name -> validation BLEU (sacreBLEU, the run's decode settings)
    default: str
    changed: bool


def choose_default(run_dir: Path, averaged: Path) -> Choice:
    """Score the averaged weights and the run's current default on its validation file, decoded as the run
    decodes (its beam); the better becomes the default that translate and evaluate read (a tie keeps it)."""
    from seq2seq_cli.decoding.translator import Translator
    from seq2seq_cli.evaluation import evaluate

    val = load_run_config(run_dir).data.val
    if not val:
        raise RunError(f"{run_dir}: its validation pairs were held out of train (no data.val file) and cannot be reread")
    if averaged.resolve().parent != run_dir.resolve():
        raise RunError(f"{averaged}: outside {run_dir}; a run's default checkpoint is one of its own files")
    current = runs.default_checkpoint(run_dir)
    names = list(dict.fromkeys([current, averaged.name]))
    scores = {name: evaluate(Translator.from_run(run_dir, name), val)[0].bleu for name in names}
    winner = max(names, key=lambda name: (scores[name], name == current))
    if winner != current:
        runs.set_default_checkpoint(run_dir, winner, {"chosen_by": "validation BLEU", "data": str(val), "scores": scores})
    return Choice(scores, winner, winner != current)


def average_weights(paths: list[Path]) -> dict:
    """The element-wise mean of the checkpoints' weights, summed in float64 and stored in each tensor's dtype."""
    import torch

    total: dict[str, torch.Tensor] = {}
    first = runs.load_checkpoint(paths[0])["model"]
    for path in paths:
        weights = first if path == paths[0] else runs.load_checkpoint(path)["model"]
        _check_same_shapes(first, weights, path, paths[0])
        for key, tensor in weights.items():
            if tensor.is_floating_point():
                total[key] = total.get(key, 0) + tensor.double()
            elif not torch.equal(tensor, first[key]):
                raise RunError(f"{path}: {key} differs from {paths[0].name}'s and cannot be averaged (not a float tensor)")
    return {
        key: (total[key] / len(paths)).to(tensor.dtype) if key in total else tensor.clone()
        for key, tensor in first.items()
    }


def _check_same_shapes(first: dict, weights: dict, path: Path, first_path: Path) -> None:
    if weights.keys() != first.keys():
        raise RunError(f"{path}: holds other weights than {first_path.name} (not the same model)")
    for key, tensor in weights.items():
        if tensor.shape != first[key].shape:
            raise RunError(f"{path}: {key} has shape {tuple(tensor.shape)}, {first_path.name} {tuple(first[key].shape)}")


def _kept_steps(run_dir: Path, pattern: re.Pattern) -> list[int]:
    return sorted(int(match.group(1)) for path in run_dir.glob("*.pt") if (match := pattern.match(path.name)))


def _last_steps(run_dir: Path, count: int) -> list[int]:
    """The latest ``count`` validations with a ``step<N>.pt`` (train.keep_last)."""
    steps = _kept_steps(run_dir, _STEP)
    if len(steps) < count:
        kept = load_run_config(run_dir).train.keep_last
        raise RunError(
            f"{run_dir}: has {len(steps)} of the last validations' checkpoints (train.keep_last: {kept}); "
            f"--last {count} needs a run trained with train.keep_last of at least {count}"
        )
    return steps[-count:]


def _best_steps(run_dir: Path, count: int) -> list[int]:
    """The ``count`` best validations with a ``best-step<N>.pt`` (train.keep_best), ranked as training ranked them."""
    steps = set(_kept_steps(run_dir, _BEST_STEP))
    if len(steps) < count:
        kept = load_run_config(run_dir).train.keep_best
        raise RunError(
            f"{run_dir}: has {len(steps)} best-validation checkpoints (train.keep_best: {kept}); "
            f"--best {count} needs a run trained with train.keep_best of at least {count}"
        )
    board = Scoreboard(load_run_config(run_dir).train.best_metric)
    records = [record for record in runs.read_metrics(run_dir) if record["step"] in steps]
    if {record["step"] for record in records} != steps:
        raise RunError(f"{run_dir / runs.METRICS}: does not list every best-step<N>.pt kept; cannot rank them")
    ranked = sorted(records, key=lambda record: -board.score(record))  # stable: a tie keeps the earlier first
    return [record["step"] for record in ranked[:count]]


def _check_not_a_training_file(out: Path, run_dir: Path) -> None:
    """Never overwrite a checkpoint that training writes (best, last, step, best-step)."""
    if out.resolve().parent == run_dir.resolve() and (
        out.name in (runs.BEST, runs.LAST) or _STEP.match(out.name) or _BEST_STEP.match(out.name)
    ):
        raise RunError(f"{out}: is one of the run's own checkpoints; choose another --out")
    if out.suffix != ".pt":
        raise RunError(f"{out}: an averaged checkpoint is a .pt file")
