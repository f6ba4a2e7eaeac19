"""The ``s2s`` command line: parse options, call library functions, report user errors in one line.

One module per command group registers its commands on the one Typer ``app`` (``app.py``); options
two commands share are defined once (``options.py``). Nothing heavy is imported at module level,
so ``s2s --help`` answers at once; torch is imported inside the commands that need it.
"""

import atexit
import os
import sys

# Importing a command module registers its commands, in the order `s2s --help` lists them.
# isort: off
from seq2seq_cli.cli import train, translate, attend, evaluate, catalog, serve, doctor, data, cache  # noqa: F401
# isort: on
from seq2seq_cli.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """The ``s2s`` console script: the app, then a quick exit.

    Once a command has finished, the interpreter's own shutdown would tear down every module torch
    loaded: 0.25 s after ``import torch`` alone, 0.8 s after a short training, on the AMD EPYC
    (bench/STARTUP.md). Every file a command writes is closed (and checkpoints synced) before it
    returns, so the exit handlers run, the output is flushed, and the process leaves without it.
    """
    try:
        app()
        code = 0
    except SystemExit as stop:
        code = stop.code
    leave(code)


def leave(code: object) -> None:
    """Exit with ``code`` as ``sys.exit`` would (None: 0; an int: itself; text: printed, 1), skipping
    the interpreter's teardown."""
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    atexit._run_exitfuncs()  # what registered an exit handler (trackers, logging) still gets it
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (``s2s translate ... | head -1``) or stream
            code = code or 1
    os._exit(code)
