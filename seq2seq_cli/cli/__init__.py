"""The ``s2s`` command line: parse options, call library functions, report user errors in one line.

One module per command group registers its commands on the one Typer ``app`` (``app.py``); options
two commands share are defined once (``options.py``). Nothing heavy is imported at module level,
so ``s2s --help`` answers at once; torch is imported inside the commands that need it.
"""

# Importing a command module registers its commands, in the order `s2s --help` lists them.
# isort: off
from seq2seq_cli.cli import train, translate, attend, evaluate, catalog, serve, doctor, data, cache  # noqa: F401
# isort: on
from seq2seq_cli.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
