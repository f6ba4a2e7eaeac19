"""``s2s translate``: a sentence, a file of any size, stdin as lines arrive, or an interactive prompt."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from seq2seq_cli.cli.app import app
from seq2seq_cli.cli.common import pick_run, user_errors, warn, with_decoding, with_engine, write_lines
from seq2seq_cli.cli.options import (
    BatchSizeOption,
    BeamOption,
    CheckpointOption,
    Device,
    DeviceOption,
    Engine,
    EngineOption,
    LengthPenaltyOption,
    RunOption,
    RunsDirOption,
)
from seq2seq_cli.errors import S2SError

TextArgument = Annotated[
    Optional[str], typer.Argument(help="Sentence to translate, or - to read one sentence a line from stdin.")
]
OutputOption = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write translations here instead of stdout.")]
InputOption = Annotated[Optional[Path], typer.Option("--input", "-i", help="File with one sentence a line.")]
NbestOption = Annotated[int, typer.Option("--nbest", min=1, help="Translations per sentence, best first (i ||| text ||| score).")]
TranslateJsonOption = Annotated[
    bool, typer.Option("--json", help="One JSON object a line: tokens, score and attention of each translation.")
]
AlignOption = Annotated[
    bool, typer.Option("--align", help="Add each translation's word alignment from attention (' ||| 0-0 2-1'; JSON: also soft).")
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Files and stdin: no progress bar, and one warning line at the end.")
]
InteractiveOption = Annotated[
    bool, typer.Option("--interactive", help="A prompt with history (also the default with no sentence on a terminal).")
]
AttendOption = Annotated[bool, typer.Option("--attend", help="--interactive: show each translation's attention too.")]
ChunkOption = Annotated[
    int, typer.Option("--chunk", min=1, help="Files and stdin: lines read, length-sorted and translated together.")
]


@app.command()
def translate(
    text: TextArgument = None,
    input_file: InputOption = None,
    output_file: OutputOption = None,
    beam: BeamOption = None,
    length_penalty: LengthPenaltyOption = None,
    nbest: NbestOption = 1,
    as_json: TranslateJsonOption = False,
    align: AlignOption = False,
    quiet: QuietOption = False,
    interactive: InteractiveOption = False,
    attend: AttendOption = False,
    chunk: ChunkOption = 10_000,
    run: RunOption = None,
    runs_dir: RunsDirOption = Path("runs"),
    checkpoint: CheckpointOption = "best.pt",
    engine: EngineOption = Engine.torch,
    device: DeviceOption = Device.cpu,
    batch_size: BatchSizeOption = 64,
) -> None:
    """Translate a sentence, a file of any size, stdin (piped, or [bold]-[/]: answered as lines arrive), or at a prompt."""
    with user_errors():
        from seq2seq_cli.decoding.translator import Translator

        interactive = _check_inputs(text, input_file, interactive, attend)
        run_dir = pick_run(run, runs_dir)
        translator = Translator.from_run(run_dir, checkpoint, device.value).with_batch_size(batch_size)
        translator = with_decoding(translator, beam, length_penalty, n_best=nbest)
        translator = with_engine(translator, run_dir, engine.value, checkpoint)
        if interactive:
            from seq2seq_cli.cli.interactive import prompt_loop

            return prompt_loop(translator, attend, nbest)
        if text is not None and text != "-":
            return _translate_sentence(translator, text, output_file, nbest, as_json, align)
        _translate_lines(translator, input_file, output_file, nbest, as_json, align, quiet, chunk)


def _check_inputs(text: Optional[str], input_file: Optional[Path], interactive: bool, attend: bool) -> bool:
    """Exactly one source of sentences; whether the prompt runs (the default on a terminal with none given;
    with none given and stdin not a terminal, stdin's lines are read, as Unix filters do)."""
    if text is not None and input_file is not None:
        raise S2SError("give a sentence or --input FILE, not both")
    piped = text is None and input_file is None and not interactive and not sys.stdin.isatty()
    interactive = interactive or (text is None and input_file is None and not piped)
    if attend and not interactive:
        raise S2SError("--attend shows attention at the --interactive prompt; for files use s2s attend --out FILE.html")
    if input_file is not None and not input_file.is_file():
        raise S2SError(f"{input_file}: no such file")
    return interactive


def _translate_sentence(translator, text: str, output_file: Optional[Path], nbest: int, as_json: bool, align: bool) -> None:
    from seq2seq_cli.decoding.translator import render_lines, translate_lines

    outputs = translate_lines(translator, [text], warn, keep_blank=False)
    write_lines(render_lines([text], outputs, nbest, as_json, align), output_file)


def _translate_lines(translator, input_file: Optional[Path], output_file: Optional[Path], nbest: int, as_json: bool,
                     align: bool, quiet: bool, chunk: int) -> None:
    """A file or stdin, chunk by chunk: constant memory, output in input order, a progress bar on a terminal."""
    from seq2seq_cli.decoding import streams
    from seq2seq_cli.decoding.translator import render_lines

    shown = not quiet and sys.stderr.isatty()
    if input_file is not None:  # counted (a second read of the file) only for a progress bar that shows it
        chunks = streams.file_chunks(streams.read_lines(input_file), chunk)
        total = streams.count_lines(input_file) if shown else None
    else:  # what has arrived: `tail -f log | s2s translate -` sees each answer as its line is read
        chunks, total = streams.arrived_chunks((line.rstrip("\r\n") for line in sys.stdin), chunk), None

    def render(lines: list[str], outputs, first: int) -> list[str]:
        return render_lines(lines, outputs, nbest, as_json, align, first)

    with streams.progress_bar(total, shown=shown) as (advance, warn_line):
        with streams.output_sink(output_file) as write:
            summary = streams.translate_stream(translator, chunks, write, render, None if quiet else warn_line, advance)
    if quiet and summary.with_unknown:
        warn(f"{summary.with_unknown:,} of {summary.lines:,} lines have unknown words, read as <unk> (without --quiet: which)")
