"""The Typer application every command module registers on, and ``--version``."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from typer.core import TyperGroup

from seq2seq_cli import __version__

# Click's usage error (a bad option, command or value), whether Typer vendors Click (0.2x) or not.
UsageError = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "UsageError")


class OneLineErrors(TyperGroup):
    """A mistyped command, option or value is one ``error:`` line and exit code 2, like every other
    user error (``common.user_errors``), instead of Click's usage text and boxed panel."""

    def make_context(self, *args, **kwargs) -> typer.Context:
        try:
            return super().make_context(*args, **kwargs)
        except UsageError as exc:
            _one_line(exc)

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            _one_line(exc)


def _one_line(exc: Exception) -> NoReturn:
    if type(exc).__name__ == "NoArgsIsHelpError":  # `s2s` alone: the help, as Typer shows it
        raise exc
    from seq2seq_cli.cli.common import stderr

    command = f"{exc.ctx.command_path}: " if exc.ctx is not None and exc.ctx.parent is not None else ""
    stderr().print(f"error: {command}{exc.format_message()} (--help lists the options)", markup=False)
    raise typer.Exit(exc.exit_code)


app = typer.Typer(
    cls=OneLineErrors,
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
