"""``s2s serve`` and ``s2s export``: a run behind HTTP, and a run as ONNX graphs."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from seq2seq_cli.cli.app import app
from seq2seq_cli.cli.common import open_translator, pick_run, renamed, stderr, user_errors, warn
from seq2seq_cli.cli.options import (
    CheckpointOption,
    Device,
    DeviceOption,
    EnsembleOption,
    OldRunArgument,
    RunOption,
    RunsDirOption,
)
from seq2seq_cli.serve.settings import ServeSettings

DEFAULTS = ServeSettings()  # every limit's default, kept in one place


class ExportFormat(StrEnum):
    onnx = "onnx"


HostOption = Annotated[str, typer.Option("--host", help="Address to listen on; 0.0.0.0 exposes it to the network.")]
PortOption = Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")]
BatchWindowOption = Annotated[
    float,
    typer.Option("--batch-window-ms", min=0,
                 help="A batch closes after this long without a request (10 windows at most; 0: none)."),
]
AdaptiveWindowOption = Annotated[
    bool,
    typer.Option("--adaptive-window/--fixed-window",
                 help="Under load, widen the quiet gap that closes a batch to twice the gap between arrivals "
                      "(at most 4 windows); --fixed-window keeps --batch-window-ms."),
]
LIMITS = "Limits (each refusal is one line of JSON)"
MaxTextsOption = Annotated[int, typer.Option("--max-texts", min=1, help="Texts one request may hold.", rich_help_panel=LIMITS)]
MaxCharsOption = Annotated[int, typer.Option("--max-chars", min=1, help="Characters one text may hold.", rich_help_panel=LIMITS)]
MaxBeamOption = Annotated[int, typer.Option("--max-beam", min=1, help="The largest beam a request may ask for.",
                                            rich_help_panel=LIMITS)]
MaxNbestOption = Annotated[int, typer.Option("--max-nbest", min=1, help="The longest n-best list a request may ask for.",
                                             rich_help_panel=LIMITS)]
MaxWorkOption = Annotated[int, typer.Option(
    "--max-work", min=1, rich_help_panel=LIMITS,
    help="One request's work at most, estimated as tokens x (beam + n-best, x2 with attention) over its texts; more is a 422.")]
BatchWorkOption = Annotated[int, typer.Option(
    "--batch-work", min=1, rich_help_panel=LIMITS,
    help="One decode's work at most: a larger request is decoded in turns with other callers' requests.")]
MaxQueueOption = Annotated[int, typer.Option(
    "--max-queue", min=1, rich_help_panel=LIMITS, help="Requests waiting or decoding at most; more get 503 and Retry-After.")]
MaxBodyOption = Annotated[int, typer.Option(
    "--max-body-bytes", min=1, rich_help_panel=LIMITS, help="A larger request body is refused (413) before it is read.")]
ReadTimeoutOption = Annotated[float, typer.Option(
    "--read-timeout", min=0.1, rich_help_panel=LIMITS,
    help="Seconds a client has to send a request's head, then its body (408; the connection is closed).")]
KeepAliveOption = Annotated[float, typer.Option(
    "--keep-alive", min=0.1, rich_help_panel=LIMITS, help="Seconds an idle connection, new or kept alive, stays open.")]
FormatOption = Annotated[ExportFormat, typer.Option("--format", help="Export format (onnx: the encoder and one decoder step).")]
Int8Option = Annotated[
    bool, typer.Option("--int8", help="Also write int8 graphs (onnxruntime's dynamic quantisation) for --engine onnx-int8.")
]


@app.command()
def serve(
    run: RunOption = None,
    runs_dir: RunsDirOption = Path("runs"),
    checkpoint: CheckpointOption = None,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    batch_window_ms: BatchWindowOption = DEFAULTS.batch_window_ms,
    adaptive_window: AdaptiveWindowOption = DEFAULTS.adaptive_window,
    max_texts: MaxTextsOption = DEFAULTS.max_texts,
    max_chars: MaxCharsOption = DEFAULTS.max_chars,
    max_beam: MaxBeamOption = DEFAULTS.max_beam,
    max_nbest: MaxNbestOption = DEFAULTS.max_nbest,
    max_work: MaxWorkOption = DEFAULTS.max_work,
    batch_work: BatchWorkOption = DEFAULTS.batch_work,
    max_queue: MaxQueueOption = DEFAULTS.max_queue,
    max_body_bytes: MaxBodyOption = DEFAULTS.max_body_bytes,
    read_timeout: ReadTimeoutOption = DEFAULTS.read_timeout_s,
    keep_alive: KeepAliveOption = DEFAULTS.keep_alive_s,
    device: DeviceOption = Device.cpu,
    ensemble: EnsembleOption = None,
) -> None:
    """Serve a run over HTTP: [bold]POST /translate[/], [bold]GET /health[/], and the live explorer at [bold]/[/]."""
    with user_errors():
        from seq2seq_cli import wait_passively

        wait_passively()  # before torch loads
        from seq2seq_cli.serve.app import check_installed
        from seq2seq_cli.serve.app import serve as run_server

        check_installed()
        translator, run_dir = open_translator(run, runs_dir, checkpoint, device.value, ensemble)
        if ensemble and len(ensemble) > 1:
            warn("--ensemble: translations and alternatives come from the ensemble; attribution reads its first member")
        settings = ServeSettings(
            batch_window_ms=batch_window_ms, adaptive_window=adaptive_window, max_texts=max_texts, max_chars=max_chars,
            max_beam=max_beam,
            max_nbest=max_nbest, max_work=max_work, batch_work=batch_work, max_queue=max_queue,
            max_body_bytes=max_body_bytes, read_timeout_s=read_timeout, keep_alive_s=keep_alive,
        )
        stderr().print(f"serving {run_dir} on http://{host}:{port}/ (POST /translate, GET /health; Ctrl-C stops)")
        run_server(translator, host, port, settings, run_dir.name, warn)


@app.command("export")
def export_run(
    run: RunOption = None,
    fmt: FormatOption = ExportFormat.onnx,
    int8: Int8Option = False,
    runs_dir: RunsDirOption = Path("runs"),
    checkpoint: CheckpointOption = None,
    old_run: OldRunArgument = None,
) -> None:
    """Export a run as ONNX graphs into [bold]<run>/onnx/[/], checked against torch; use them with [bold]--engine onnx[/]."""
    with user_errors():
        from seq2seq_cli.decoding.export import FOLDER, export_run

        run_dir = pick_run(renamed(run, old_run, "--run", "a RUN argument"), runs_dir)
        record = export_run(run_dir, fmt.value, int8, checkpoint)
        for kind in ("fp32", "int8"):
            if kind in record:
                check = record[kind]
                agree = "same tokens" if check["same_tokens"] else f"{100 * check['same_token_share']:.0f}% same tokens"
                stderr().print(f"{kind}: {agree} as torch on {check['sentences']} test sentences, "
                               f"largest log-probability difference {check['max_log_prob_diff']:.2g}", markup=False)
        engines = "--engine onnx" + (" or --engine onnx-int8" if int8 else "")
        stderr().print(f"wrote {run_dir / FOLDER}/ ({', '.join(record['files'])}); translate with {engines}", markup=False)
