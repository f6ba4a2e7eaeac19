"""``s2s train`` and ``s2s prepare``: a new run, a fine-tuned one, a resumed one; the data prepared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seq2seq_cli.cli.app import app
from seq2seq_cli.cli.common import renamed, stdout, user_errors, warn
from seq2seq_cli.cli.options import ConfigOption, OldRunArgument, OverridesOption, RunOption
from seq2seq_cli.errors import S2SError

ResumeOption = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run: --run RUN, or the newest.")]
TrainRunsDirOption = Annotated[
    Optional[Path], typer.Option("--runs-dir", help="Where runs live; overrides train.runs_dir. [default: train.runs_dir, runs]")
]
RequiredConfigOption = Annotated[Path, typer.Option("--config", "-c", help="YAML config file.")]
InitFromOption = Annotated[
    Optional[str],
    typer.Option("--init-from", help="Fine-tune: start from RUN's best weights, vocabularies and tokenisers "
                                     "(a run folder or a name in --runs-dir); sets train.init_from."),
]


@app.command()
def train(
    config: ConfigOption = None,
    overrides: OverridesOption = None,
    resume: ResumeOption = False,
    run: RunOption = None,
    runs_dir: TrainRunsDirOption = None,
    init_from: InitFromOption = None,
    old_run: OldRunArgument = None,
) -> None:
    """Train a model and checkpoint it to [bold]runs/<name>/[/], fine-tune one ([bold]--init-from[/]) or [bold]--resume[/] one."""
    with user_errors():
        from seq2seq_cli.training import trainer

        if old_run is not None and not resume:
            raise S2SError(f"unexpected argument {old_run!r}: did you mean --resume --run {old_run}?")
        run = renamed(run, old_run, "--resume --run RUN", "--resume RUN")

        if resume and init_from is not None:
            raise S2SError("--init-from starts a new run from a trained one and --resume continues an interrupted one: "
                           "give one of them")
        if resume:
            if config is not None or overrides:
                raise S2SError("--resume continues a run with its saved config: drop --config and --set")
            from seq2seq_cli.runs import find_run

            return trainer.resume(find_run(run, runs_dir or Path("runs"), need_checkpoint=False), stdout())
        if run is not None:
            raise S2SError(f"--run {run} names a run to continue: add --resume (a new run is named by train.name)")
        if config is None:
            raise S2SError("give --config FILE (or --resume RUN)")
        if init_from is not None:
            overrides = [*(overrides or []), _init_from_override(init_from, runs_dir)]
        settings = _checked_config(config, overrides)
        if runs_dir is not None:  # given on the command line: it wins over the config's train.runs_dir
            settings.train.runs_dir = str(runs_dir)
        trainer.train(settings, settings.train.name or config.stem, stdout())


@app.command()
def prepare(config: RequiredConfigOption, overrides: OverridesOption = None) -> None:
    """Tokenise and index the training data once into [bold]data.cache_dir[/] ([bold]s2s train[/] does it on first use)."""
    with user_errors():
        from seq2seq_cli.data import cache
        from seq2seq_cli.training import finetune

        console = stdout()
        settings = _checked_config(config, overrides)
        parent = finetune.load_parent(settings, console) if settings.train.init_from else None
        given = cache.Given(parent.vocabs, parent.run_dir) if parent else None
        prepared = cache.prepare(settings, console, given=given)
        console.print(f"ready: {prepared.folder} ({prepared.meta['pairs']:,} training pairs)", markup=False)


def _checked_config(path: Path, overrides: Optional[list[str]]):
    """The config with its overrides, validated; a key set to no effect for this model is a warning."""
    from seq2seq_cli.config import load_config, unused_settings

    settings = load_config(path, overrides or [])
    for message in unused_settings(settings):
        warn(message)
    return settings


def _init_from_override(run: str, runs_dir: Optional[Path]) -> str:
    """``--init-from RUN`` as the ``train.init_from`` it sets: a name is looked up in --runs-dir when one
    is given, otherwise (while the config is read) in its train.runs_dir."""
    import json

    if runs_dir is not None:
        from seq2seq_cli.config.inherit import resolve_parent

        run = str(resolve_parent(run, runs_dir))
    return f"train.init_from={json.dumps(run)}"
