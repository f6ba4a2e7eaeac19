"""What training shows and records besides the checkpoints: the summary table, the progress bar,
one line per validation, the closing line, the loss curves, and the process's peak memory."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from seq2seq_cli.data.prepare import TrainingData
from seq2seq_cli.models.seq2seq import Seq2Seq, parameter_counts


def summary_table(data: TrainingData, model: Seq2Seq, run_dir: Path) -> Table:
    """What is about to be trained: data and vocabulary sizes, parameters per module."""
    table = Table(title=f"s2s run {run_dir}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("training pairs", f"{len(data.train):,}")
    if data.too_long:
        table.add_row("  dropped (longer than data.max_len)", f"{data.too_long:,}")
    table.add_row("validation pairs", f"{len(data.val):,}")
    table.add_row("source vocabulary", f"{len(data.src_vocab):,}")
    table.add_row("target vocabulary", f"{len(data.tgt_vocab):,}")
    counts = parameter_counts(model)
    for module, count in counts.items():
        table.add_row(f"  {module}", f"{count:,}")
    table.add_row("parameters", f"{sum(counts.values()):,}")
    return table


def progress_bar(console: Console) -> Progress:
    """Updates, loss and tokens/s while training (drawn only on a terminal)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TextColumn("{task.fields[speed]:,.0f} tok/s"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )


def validation_line(record: dict) -> str:
    return (
        f"epoch {record['epoch']:>3}  step {record['step']:>6}  train loss {record['train_loss']:.4f}  "
        f"{metric_text(record)}  lr {record['lr']:.2g}  {record['tokens_per_s']:,.0f} tok/s"
    )


def done_line(elapsed: float, stop_reason: str, best: dict, run_dir: Path) -> str:
    return (
        f"[green]done[/] in {elapsed:.1f}s ({stop_reason}): best at step {best['step']} "
        f"(epoch {best['epoch']}; {metric_text(best)}), saved to {run_dir}"
    )


def metric_text(record: dict) -> str:
    return (
        f"val loss {_fmt(record['val_loss'])}  ppl {_fmt(record['val_ppl'])}  "
        f"BLEU {_fmt(record['val_bleu'], 2)}  chrF {_fmt(record['val_chrf'], 2)}"
    )


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def import_plotting_meanwhile() -> None:
    """Import matplotlib in a background thread while training runs: the loss curves drawn at the end would
    otherwise wait for it (0.4 s of a one-epoch run's 4.4 s outside its updates, bench/STARTUP.md). torch's
    kernels release the GIL, so the import mostly overlaps the updates; ``plot_curves`` waits for it if it
    is not done yet (Python's import lock)."""
    import threading

    from seq2seq_cli.viz import plot

    threading.Thread(target=plot.pyplot, name="s2s-import-matplotlib", daemon=True).start()


def plot_curves_or_warn(records: list[dict], path: Path, console: Console) -> None:
    """A failed plot must not fail a finished training run."""
    from seq2seq_cli.viz.plot import plot_curves

    try:
        plot_curves(records, path)
    except Exception as exc:  # noqa: BLE001 - the checkpoints are what matters
        console.print(f"[yellow]warning:[/] could not draw {path}: {exc}")


def peak_memory_mib() -> float | None:
    """This process's peak resident memory so far (Linux VmHWM), or None where /proc is missing.

    Not ``getrusage``: its maxrss survives exec, so a process started by a large parent
    (a benchmark, a notebook) would report the parent's size.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return None if kib is None else round(kib / 1024, 1)
