"""The Typer application every command module registers on, and ``--version``."""

from __future__ import annotations

from typing import Annotated

import typer

from seq2seq_cli import __version__

app = typer.Typer(
    help="Train attention-based sequence-to-sequence translation models and see what their attention does.",
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    add_completion=True,  # s2s --install-completion: Tab completes commands, options and file names
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(show: bool) -> None:
    if show:
        typer.echo(f"s2s {__version__}")
        raise typer.Exit()


@app.callback()
def _app(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """s2s: train attention-based translation models and see what their attention does."""
