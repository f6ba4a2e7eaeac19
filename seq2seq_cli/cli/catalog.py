"""``s2s runs``, ``s2s compare`` and ``s2s average``: looking after the runs in a folder."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer

from seq2seq_cli.cli.app import app
from seq2seq_cli.cli.common import pick_run, renamed, stderr, stdout, user_errors, warn
from seq2seq_cli.cli.options import OldOutOption, OldRunArgument, RunOption, RunsDirOption


class Metric(StrEnum):
    bleu = "bleu"
    chrf = "chrf"
    loss = "loss"


class Axis(StrEnum):
    step = "step"
    minutes = "minutes"


RunsJsonOption = Annotated[bool, typer.Option("--json", help="One JSON list of the runs instead of a table.")]
CompareRunsOption = Annotated[
    Optional[list[str]], typer.Option("--run", "-r", help="A run to compare: a folder, or a name inside --runs-dir (repeat).")
]
OldRunsArgument = Annotated[Optional[list[str]], typer.Argument(hidden=True, show_default=False)]
PictureOption = Annotated[Path, typer.Option("--output", "-o", help="Picture: .png, .svg or .pdf.")]
MetricOption = Annotated[Metric, typer.Option("--metric", help="What to plot (all on validation).")]
AxisOption = Annotated[Axis, typer.Option("--x", help="Against what: steps, or minutes of training.")]
LastOption = Annotated[
    Optional[int], typer.Option("--last", help="Average the last N validations' weights (needs train.keep_last >= N).")
]
ChooseOption = Annotated[
    bool, typer.Option("--choose/--no-choose", help="Score the average and the run's default checkpoint on its "
                       "validation file; the better becomes the default translate and evaluate use.")
]
BestOption = Annotated[
    Optional[int], typer.Option("--best", help="Average the N best validations' weights (needs train.keep_best >= N).")
]
AverageOutOption = Annotated[
    Optional[Path], typer.Option("--output", "-o", help="Where to write it. [default: <run>/average-last<N>.pt or -best<N>]")
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
    run: CompareRunsOption = None,
    out: PictureOption = Path("compare.png"),
    metric: MetricOption = Metric.bleu,
    x: AxisOption = Axis.step,
    runs_dir: RunsDirOption = Path("runs"),
    old_runs: OldRunsArgument = None,
    old_out: OldOutOption = None,
) -> None:
    """Draw several runs' validation curves on one plot, one line per run."""
    with user_errors():
        from seq2seq_cli.catalog import AXES, METRICS
        from seq2seq_cli.errors import S2SError
        from seq2seq_cli.runs import find_run
        from seq2seq_cli.viz.plot import check_image_path, plot_comparison, validation_curves

        run, out = renamed(run, old_runs, "--run", "RUN arguments"), renamed(out, old_out, "--output", "--out")
        if not run:
            raise S2SError("name the runs to compare: --run A --run B ...")
        check_image_path(out)
        run_dirs = [find_run(name, runs_dir, need_checkpoint=False) for name in run]
        plot_comparison(validation_curves(run_dirs, metric.value, x.value), out, AXES[x.value], METRICS[metric.value][1])
        plotted = f"{METRICS[metric.value][1]} of {len(run_dirs)} run{'s' * (len(run_dirs) != 1)} against {AXES[x.value]}"
        stderr().print(f"wrote {out}: {plotted}")


@app.command()
def average(
    run: RunOption = None,
    last: LastOption = None,
    best: BestOption = None,
    out: AverageOutOption = None,
    runs_dir: RunsDirOption = Path("runs"),
    old_run: OldRunArgument = None,
    old_out: OldOutOption = None,
    choose: ChooseOption = True,
) -> None:
    """Average a run's last or best checkpoints into one; when it wins on validation, it becomes the run's default."""
    with user_errors():
        from seq2seq_cli.training.averaging import average_run

        run_dir = pick_run(renamed(run, old_run, "--run", "a RUN argument"), runs_dir)
        averaged = average_run(run_dir, last, best, renamed(out, old_out, "--output", "--out"))
        steps = ", ".join(str(step) for step in averaged.steps)
        stderr().print(f"averaged the {averaged.chosen_by} checkpoints (steps {steps}) into {averaged.path}")
        if choose:
            _choose_default(run_dir, averaged.path)
        else:
            name = averaged.path.name if averaged.path.parent.resolve() == run_dir.resolve() else str(averaged.path)
            stderr().print(f"use it: s2s evaluate --run {run_dir} --checkpoint {name} --data TEST.tsv")


def _choose_default(run_dir: Path, averaged: Path) -> None:
    """Compare on validation and say which checkpoint the run now translates with; a run that cannot be
    compared keeps its default, with a warning that says why."""
    from seq2seq_cli.errors import S2SError
    from seq2seq_cli.training.averaging import choose_default

    try:
        choice = choose_default(run_dir, averaged)
    except S2SError as exc:
        warn(f"the run's default checkpoint is unchanged: {exc}")
        return
    scores = ", ".join(f"{name} {bleu:.2f}" for name, bleu in choice.scores.items())
    verdict = "now translates with" if choice.changed else "keeps"
    stderr().print(f"validation BLEU: {scores}; {run_dir} {verdict} {choice.default} (--checkpoint chooses another)",
                   markup=False)
