"""The runs in a folder at a glance (``s2s runs``) and their validation curves side by side (``s2s compare``).

Everything here reads the plain files a run folder keeps (``config.yaml``, ``metrics.jsonl``),
never a checkpoint, so listing runs needs no torch and stays instant however large they are.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Optional

from seq2seq_cli import runs
from seq2seq_cli.config import load_run_config
from seq2seq_cli.errors import RunError, S2SError

Metric = Literal["bleu", "chrf", "loss"]
Axis = Literal["step", "minutes"]
METRICS = {"bleu": ("val_bleu", "validation BLEU"), "chrf": ("val_chrf", "validation chrF"),
           "loss": ("val_loss", "validation loss (cross-entropy per token)")}
AXES = {"step": "step", "minutes": "minutes of training"}


@dataclass
class RunSummary:
    """One row of ``s2s runs``."""

    name: str
    path: str
    model: str
    steps: Optional[int]  # the step of the latest validation
    best_bleu: Optional[float]
    best_val_loss: Optional[float]
    size_bytes: int
    modified: float  # seconds since the epoch: the newest file in the folder
    state: str  # finished, or unfinished (interrupted, crashed, or still training)
    checkpoint: str = runs.BEST  # what translate and evaluate read without --checkpoint (runs.default_checkpoint)

    def as_dict(self) -> dict:
        return {**asdict(self), "modified": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.modified))}


def run_summaries(runs_dir: Path) -> list[RunSummary]:
    """Every run folder in ``runs_dir`` (a folder with a ``config.yaml``), the most recently changed first."""
    if not runs_dir.is_dir():
        raise RunError(f"{runs_dir}: no such folder of runs")
    folders = [d for d in runs_dir.iterdir() if d.is_dir() and (d / runs.CONFIG_FILE).is_file()]
    summaries = [summarise_run(d) for d in folders]
    return sorted(summaries, key=lambda s: (s.modified, s.name), reverse=True)


def summarise_run(run_dir: Path) -> RunSummary:
    """What ``s2s runs`` says about one run; a run whose config cannot be read still gets its row."""
    records = runs.read_metrics(run_dir)
    bleus = [r["val_bleu"] for r in records if r.get("val_bleu") is not None]
    losses = [r["val_loss"] for r in records if r.get("val_loss") is not None]
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    stats = [p.stat() for p in files]
    return RunSummary(
        name=run_dir.name,
        path=str(run_dir),
        model=_model_text(run_dir),
        steps=records[-1]["step"] if records else None,
        best_bleu=max(bleus) if bleus else None,
        best_val_loss=min(losses) if losses else None,
        size_bytes=sum(s.st_size for s in stats),
        modified=max((s.st_mtime for s in stats), default=run_dir.stat().st_mtime),
        state="finished" if (runs.read_state(run_dir) or {}).get("finished") else "unfinished",
        checkpoint=_default_checkpoint(run_dir),
    )


def _default_checkpoint(run_dir: Path) -> str:
    try:
        return runs.default_checkpoint(run_dir)
    except RunError:  # a damaged default.json: the table still lists the run, and translate names the problem
        return "? (default.json)"


def describe_model(model) -> str:
    """A model in a few words: ``gru bahdanau 256``, ``transformer 2x4 256`` (layers x heads, width)."""
    if model.type == "transformer":
        return f"transformer {model.layers}x{model.heads} {model.hidden_size}"
    heads = f"x{model.heads}" if model.attention == "multihead" else ""
    layers = f" {model.layers} layers" if model.layers > 1 else ""
    return f"gru {model.attention}{heads} {model.hidden_size}{layers}"


def _model_text(run_dir: Path) -> str:
    try:
        return describe_model(load_run_config(run_dir).model)
    except S2SError:
        return "? (unreadable config.yaml)"


def runs_table(summaries: Sequence[RunSummary], title: str = "", now: float | None = None):
    """The rich table ``s2s runs`` prints."""
    from rich import box
    from rich.table import Table

    now = time.time() if now is None else now
    # no rules between columns, no padding at the edges: fits 80 columns
    table = Table(title=title or None, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    weights = any(s.checkpoint != runs.BEST for s in summaries)  # the column only where a run uses other weights
    for column, justify in (("run", "left"), ("model", "left"), ("steps", "right"), ("best BLEU", "right"),
                            *[("weights", "left")] * weights, ("size", "right"), ("when", "right"), ("state", "left")):
        table.add_column(column, justify=justify)
    for s in summaries:
        table.add_row(
            s.name, s.model, "-" if s.steps is None else f"{s.steps:,}", _best(s),
            *[s.checkpoint.removesuffix(".pt")] * weights, human_size(s.size_bytes),
            ago(now - s.modified), s.state if s.state == "finished" else f"[yellow]{s.state}[/]",
        )
    return table


def _best(summary: RunSummary) -> str:
    """The best validation BLEU; the best validation loss where a run has no BLEU; ``-`` without validations."""
    if summary.best_bleu is not None:
        return f"{summary.best_bleu:.2f}"
    return "-" if summary.best_val_loss is None else f"[dim]loss {summary.best_val_loss:.4f}[/]"


def human_size(size: int) -> str:
    """Bytes as ``980 B``, ``12.3 KB``, ``4.5 MB``, ``1.2 GB`` (powers of 1024, as ``du -h``)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def ago(seconds: float) -> str:
    """How long ago, in the largest whole unit: ``just now``, ``5 minutes ago``, ``3 days ago``."""
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' * (count != 1)} ago"
    raise AssertionError("unreachable")


