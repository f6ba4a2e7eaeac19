"""``s2s doctor``: this machine as s2s sees it, for bug reports and slow runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seq2seq_cli.cli.app import app
from seq2seq_cli.cli.common import user_errors

DoctorConfigOption = Annotated[
    Optional[Path], typer.Option("--config", "-c", help="Also check this config's data against the machine.")
]
DoctorJsonOption = Annotated[bool, typer.Option("--json", help="The report as one JSON object.")]
SecondsOption = Annotated[float, typer.Option("--seconds", min=0.1, help="Time for each matmul measurement.")]


@app.command()
def doctor(config: DoctorConfigOption = None, as_json: DoctorJsonOption = False, seconds: SecondsOption = 1.0) -> None:
    """Describe this machine for s2s (CPU, torch build, measured matmul peaks, threads) and warn about what will hurt."""
    with user_errors():
        import json

        from seq2seq_cli.config import load_config
        from seq2seq_cli.training.doctor import examine, render

        report = examine(seconds, load_config(config) if config is not None else None)
        typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else render(report))
