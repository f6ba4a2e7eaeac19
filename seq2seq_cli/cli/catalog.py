"""``s2s runs``, ``s2s compare`` and ``s2s average``: looking after the runs in a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seq2seq_cli.cli.app import app
from seq2seq_cli.cli.common import stderr, stdout, user_errors
from seq2seq_cli.cli.options import RunArgument, RunsDirOption

RunsJsonOption = Annotated[bool, typer.Option("--json", help="One JSON list of the runs instead of a table.")]
CompareRunsArgument = Annotated[list[str], typer.Argument(help="Runs to compare: folders, or names inside --runs-dir.")]
PictureOption = Annotated[Path, typer.Option("--out", "-o", help="Picture: .png, .svg or .pdf.")]
MetricOption = Annotated[str, typer.Option("--metric", help="What to plot: bleu, chrf or loss (all on validation).")]
AxisOption = Annotated[str, typer.Option("--x", help="Against what: step, or minutes of training.")]
LastOption = Annotated[
    Optional[int], typer.Option("--last", help="Average the last N validations' weights (needs train.keep_last >= N).")
]
BestOption = Annotated[
    Optional[int], typer.Option("--best", help="Average the N best validations' weights (needs train.keep_best >= N).")
]
AverageOutOption = Annotated[
    Optional[Path], typer.Option("--out", "-o", help="Where to write it. [default: <run>/average-last<N>.pt or -best<N>]")
]


@app.command("runs")
def list_runs(runs_dir: RunsDirOption = Path("runs"), as_json: RunsJsonOption = False) -> None:
    """List the runs in a folder: model, steps, best BLEU, size, when, finished or not."""
    with user_errors():
        import json

        from seq2seq_cli.catalog import run_summaries, runs_table

        summaries = run_summaries(runs_dir)
        if as_json:
            typer.echo(json.dumps([s.as_dict() for s in summaries], indent=2, ensure_ascii=False))
        elif not summaries:
            stderr().print(f"no runs in {runs_dir}/ yet: train one with s2s train --config CONFIG")
        else:
            stdout().print(runs_table(summaries, f"{len(summaries)} runs in {runs_dir}/"))


@app.command()
def compare(
    run: CompareRunsArgument,
    out: PictureOption = Path("compare.png"),
    metric: MetricOption = "bleu",
    x: AxisOption = "step",
    runs_dir: RunsDirOption = Path("runs"),
) -> None:
    """Draw several runs' validation curves on one plot, one line per run."""
    with user_errors():
        from seq2seq_cli.catalog import AXES, METRICS, check_choice
        from seq2seq_cli.runs import find_run
        from seq2seq_cli.viz.plot import check_image_path, plot_comparison, validation_curves

        check_choice("--metric", metric, list(METRICS))
        check_choice("--x", x, list(AXES))
        check_image_path(out)
        run_dirs = [find_run(name, runs_dir, need_checkpoint=False) for name in run]
        plot_comparison(validation_curves(run_dirs, metric, x), out, AXES[x], METRICS[metric][1])
        stderr().print(f"wrote {out}: {METRICS[metric][1]} of {len(run_dirs)} run{'s' * (len(run_dirs) != 1)} against {AXES[x]}")


@app.command()
def average(
    run: RunArgument = None,
    last: LastOption = None,
    best: BestOption = None,
    out: AverageOutOption = None,
    runs_dir: RunsDirOption = Path("runs"),
) -> None:
    """Average a run's last or best checkpoints into one; use it with [bold]--checkpoint[/]."""
    with user_errors():
        from seq2seq_cli.runs import find_run
        from seq2seq_cli.training.averaging import average_run

        run_dir = find_run(run, runs_dir)
        averaged = average_run(run_dir, last, best, out)
        steps = ", ".join(str(step) for step in averaged.steps)
        stderr().print(f"averaged the {averaged.chosen_by} checkpoints (steps {steps}) into {averaged.path}")
        name = averaged.path.name if averaged.path.parent.resolve() == run_dir.resolve() else str(averaged.path)
        stderr().print(f"use it: s2s evaluate --run {run_dir} --checkpoint {name} --data TEST.tsv")
