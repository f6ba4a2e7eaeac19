"""``s2s translate``: a sentence, a file of any size, stdin as lines arrive, or an interactive prompt."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NamedTuple, Optional

import typer

from seq2seq_cli.cli.app import app
from seq2seq_cli.cli.common import (
    open_translator,
    stderr,
    user_errors,
    warn,
    with_decoding,
    with_engine,
    with_prefix,
    write_lines,
)
from seq2seq_cli.cli.options import (
    BatchSizeOption,
    BeamOption,
    CheckpointOption,
    Device,
    DeviceOption,
    Engine,
    EngineOption,
    EnsembleOption,
    LengthPenaltyOption,
    PrefixOption,
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


class OnLong(StrEnum):
    crop = "crop"
    skip = "skip"
    fail = "fail"


OnLongOption = Annotated[
    Optional[OnLong],
    typer.Option("--on-long", help="A line too long for the model (decode.max_input_len tokens, data.max_line_bytes): "
                 "crop it, skip it (an empty record) or stop there; a warning names each. "
                 "[default: crop; a sentence given as an argument or at the prompt: fail]"),
]
ResumeOption = Annotated[
    bool, typer.Option("--resume", help="With --output: finish a translation an error or Ctrl-C stopped, from the first "
                       "record OUTPUT.partial lacks (no such file: from the first line).")
]


class Shape(NamedTuple):
    """What a record looks like: the best translation, an n-best group, or a JSON line; with alignments or not."""

    nbest: int
    as_json: bool
    align: bool

    @property
    def form(self) -> str:
        return "json" if self.as_json else "nbest" if self.nbest > 1 else "text"


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
    on_long: OnLongOption = None,
    resume: ResumeOption = False,
    run: RunOption = None,
    runs_dir: RunsDirOption = Path("runs"),
    checkpoint: CheckpointOption = None,
    engine: EngineOption = Engine.torch,
    device: DeviceOption = Device.cpu,
    batch_size: BatchSizeOption = 64,
    prefix: PrefixOption = None,
    ensemble: EnsembleOption = None,
) -> None:
    """Translate a sentence, a file of any size, stdin (piped, or [bold]-[/]: answered as lines arrive), or at a prompt."""
    with user_errors():
        interactive = _check_inputs(text, input_file, interactive, attend)
        one = interactive or (text is not None and text != "-")  # a sentence: too long is an error unless told
        if resume and (one or output_file is None):
            raise S2SError("--resume finishes a translation of --input FILE (or stdin) into --output FILE: give them")
        translator, run_dir = open_translator(run, runs_dir, checkpoint, device.value, ensemble)
        translator = with_decoding(translator.with_batch_size(batch_size), beam, length_penalty, n_best=nbest)
        translator = with_prefix(with_engine(translator, run_dir, engine.value, checkpoint, ensemble), prefix)
        policy, shape = (on_long or (OnLong.fail if one else OnLong.crop)).value, Shape(nbest, as_json, align)
        if interactive:
            from seq2seq_cli.cli.interactive import prompt_loop

            return prompt_loop(translator, attend, nbest, on_long=policy)
        if one:
            return _translate_sentence(translator, text, output_file, shape, policy)
        _translate_lines(translator, input_file, output_file, shape, quiet, chunk, policy, resume)


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


def _translate_sentence(translator, text: str, output_file: Optional[Path], shape: Shape, on_long: str) -> None:
    from seq2seq_cli.decoding.lines import render_lines, translate_chunk

    done = translate_chunk(translator, [text], warn, on_long=on_long, numbered=False, lenient=False)
    if done.failed is not None:
        raise done.failed
    write_lines(render_lines([text], done.outputs, *shape, errors=done.errors), output_file)


def _translate_lines(translator, input_file: Optional[Path], output_file: Optional[Path], shape: Shape, quiet: bool,
                     chunk: int, on_long: str, resume: bool) -> None:
    """A file or stdin, chunk by chunk: constant memory, output in input order, a progress bar on a terminal;
    one record a line, kept in OUTPUT.partial when an error or Ctrl-C stops it (``--resume`` finishes it)."""
    from seq2seq_cli.decoding import partial, streams
    from seq2seq_cli.decoding.lines import render_lines

    shown = not quiet and sys.stderr.isatty()
    total = streams.count_lines(input_file) if shown and input_file is not None else None  # a second read, for the bar
    if resume and not partial.partial_path(output_file).exists():
        stderr().print(f"no {partial.partial_path(output_file)} to resume: translating from the first line", markup=False)

    def render(lines: list[str], outputs, first: int, errors: dict[int, str]) -> list[str]:
        return render_lines(lines, outputs, *shape, first, errors)

    summary = streams.Summary()
    with streams.progress_bar(total, shown=shown) as (advance, warn_line):
        with partial.output_sink(output_file, shape.form, resume, lambda: summary.lines) as sink:
            max_bytes = translator.config.data.max_line_bytes
            lines = (streams.read_lines(input_file, max_bytes) if input_file is not None  # stdin: as lines arrive,
                     else streams.decoded_lines(sys.stdin.buffer, "stdin", max_bytes))  # `tail -f log | s2s translate -`
            if sink.done:
                lines = partial.skip_lines(lines, sink.done, partial.partial_path(output_file))
                if advance is not None:
                    advance(sink.done)
            chunks = (streams.file_chunks(lines, chunk, sink.done) if input_file is not None
                      else streams.arrived_chunks(lines, chunk))
            streams.translate_stream(translator, chunks, sink.write, render, None if quiet else warn_line, advance,
                                     on_long, summary, sink.done + 1)
    if quiet and summary.with_unknown:
        warn(f"{summary.with_unknown:,} of {summary.lines:,} lines have unknown words, read as <unk> (without --quiet: which)")
    if quiet and summary.noted:
        warn(f"{summary.noted:,} of {summary.lines:,} lines were too long (--on-long {on_long}) or held nothing the model "
             "reads (without --quiet: which)")
