"""The ``s2s`` command line: parse options, call library functions, report user errors in one line.

Nothing heavy is imported at module level, so ``s2s --help`` answers at once; torch is
imported inside the commands that need it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer

from seq2seq_cli import __version__
from seq2seq_cli.errors import S2SError

DEFAULT_SENTENCE = "i am a student"

app = typer.Typer(
    help="Train attention-based sequence-to-sequence translation models and see what their attention does.",
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

RunOption = Annotated[Optional[str], typer.Option("--run", help="Run folder or name inside --runs-dir. [default: newest run]")]
RunsDirOption = Annotated[Path, typer.Option("--runs-dir", help="Where runs live.")]


def _stderr():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn an ``S2SError`` into one red line on stderr and exit code 2 (no traceback)."""
    try:
        yield
    except KeyboardInterrupt:
        _stderr().print("[yellow]stopped:[/] interrupted")
        raise typer.Exit(130) from None
    except S2SError as exc:
        from rich.markup import escape

        colour = "red" if exc.label == "error" else "yellow"
        _stderr().print(f"[{colour}]{exc.label}:[/] {escape(str(exc))}")
        raise typer.Exit(exc.exit_code) from None


def _version(show: bool) -> None:
    if show:
        typer.echo(f"s2s {__version__}")
        raise typer.Exit()


@app.callback()
def _app(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """s2s: train attention-based translation models and see what their attention does."""


@app.command()
def train(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config file.")] = None,
    overrides: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override a config key, e.g. --set train.epochs=50 (repeatable).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run: RUN, or the newest.")] = False,
    run: Annotated[Optional[str], typer.Argument(help="With --resume: the run folder (or name in --runs-dir).")] = None,
    runs_dir: Annotated[
        Optional[Path],
        typer.Option("--runs-dir", help="Where runs live; overrides train.runs_dir. [default: train.runs_dir, runs]"),
    ] = None,
) -> None:
    """Train a model and checkpoint it to [bold]runs/<name>/[/], or [bold]--resume[/] one."""
    with user_errors():
        from rich.console import Console

        from seq2seq_cli import train as training

        console = Console(highlight=False, soft_wrap=True)
        if resume:
            if config is not None or overrides:
                raise S2SError("--resume continues a run with its saved config: drop --config and --set")
            from seq2seq_cli.runs import find_run

            training.resume(find_run(run, runs_dir or Path("runs"), need_checkpoint=False), console)
            return
        if run is not None:
            raise S2SError(f"unexpected argument {run!r}: did you mean --resume {run}?")
        if config is None:
            raise S2SError("give --config FILE (or --resume RUN)")
        from seq2seq_cli.config import load_config, unused_settings

        settings = load_config(config, overrides or [])
        if runs_dir is not None:  # given on the command line: it wins over the config's train.runs_dir
            settings.train.runs_dir = str(runs_dir)
        for message in unused_settings(settings):
            _warn(message)
        training.train(settings, settings.train.name or config.stem, console)


def _warn(message: str) -> None:
    from rich.markup import escape

    _stderr().print(f"[yellow]warning:[/] {escape(message)}")


BeamOption = Annotated[
    Optional[int], typer.Option("--beam", min=1, help="Beam size (1: greedy). [default: the run's decode.beam_size]")
]


@app.command()
def translate(
    text: Annotated[
        Optional[str], typer.Argument(help="Sentence to translate, or - to read one sentence a line from stdin.")
    ] = None,
    input_file: Annotated[Optional[Path], typer.Option("--input", "-i", help="File with one sentence a line.")] = None,
    output_file: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Write translations here instead of stdout.")
    ] = None,
    beam: BeamOption = None,
    nbest: Annotated[
        int, typer.Option("--nbest", min=1, help="Translations per sentence, best first (i ||| text ||| score).")
    ] = 1,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object a line: tokens, score and attention of each translation.")
    ] = False,
    run: RunOption = None,
    runs_dir: RunsDirOption = Path("runs"),
) -> None:
    """Translate a sentence, stdin ([bold]-[/]) or a file, with a trained run."""
    with user_errors():
        from seq2seq_cli.runs import find_run
        from seq2seq_cli.translator import Translator, render_lines, translate_lines

        lines = _input_lines(text, input_file)
        translator = Translator.from_run(find_run(run, runs_dir)).with_decoding(beam_size=beam, n_best=nbest)
        warn = _stderr().print
        from_file = input_file is not None or text == "-"
        outputs = translate_lines(translator, lines, lambda message: warn(f"[yellow]warning:[/] {message}"), from_file)
        _write_lines(render_lines(lines, outputs, nbest, as_json), output_file)


def _input_lines(text: Optional[str], input_file: Optional[Path]) -> list[str]:
    if text is not None and input_file is not None:
        raise S2SError("give a sentence or --input FILE, not both")
    if input_file is not None:
        try:
            return input_file.read_text(encoding="utf-8-sig").splitlines()
        except FileNotFoundError:
            raise S2SError(f"{input_file}: no such file") from None
        except UnicodeDecodeError as exc:
            raise S2SError(f"{input_file}: not valid UTF-8 (byte {exc.start})") from None
    if text == "-":
        return sys.stdin.read().splitlines()
    if text is None:
        raise S2SError("nothing to translate: give a sentence, - for stdin, or --input FILE")
    return [text]


def _write_lines(lines: list[str], output_file: Optional[Path]) -> None:
    text = "".join(line + "\n" for line in lines)
    if output_file is None:
        sys.stdout.write(text)
        return
    try:
        output_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise S2SError(f"{output_file}: cannot write ({exc.strerror})") from None


@app.command()
def attend(
    text: Annotated[str, typer.Argument(help="Sentence whose attention to draw.")] = DEFAULT_SENTENCE,
    out: Annotated[Path, typer.Option("--out", "-o", help="Image file: .png, .svg or .pdf.")] = Path("attention.png"),
    style: Annotated[
        str, typer.Option("--style", help="grid (dark, cell borders) or annotated (light, weights printed).")
    ] = "grid",
    layer: Annotated[
        Optional[int], typer.Option("--layer", help="Multi-head models: which decoder layer. [default: the last]")
    ] = None,
    head: Annotated[Optional[int], typer.Option("--head", help="Multi-head models: which head. [default: their average]")] = None,
    grid: Annotated[bool, typer.Option("--grid", help="Multi-head models: every head of the layer in one image.")] = False,
    pieces: Annotated[bool, typer.Option("--pieces", help="Subword models: draw the pieces, not whole words.")] = False,
    beam: BeamOption = None,
    run: RunOption = None,
    runs_dir: RunsDirOption = Path("runs"),
) -> None:
    """Draw the attention heatmap of one translation: source words across, output words down."""
    with user_errors():
        if style not in ("grid", "annotated"):
            raise S2SError(f"--style must be grid or annotated, got {style!r}")
        from seq2seq_cli.plot import check_image_path, plot_translation
        from seq2seq_cli.runs import find_run
        from seq2seq_cli.translator import Translator

        check_image_path(out)
        translator = Translator.from_run(find_run(run, runs_dir)).with_decoding(beam_size=beam)
        translation = translator.translate([text])[0]
        if translation.unknown:
            _stderr().print(f"[yellow]warning:[/] unknown words read as <unk>: {', '.join(translation.unknown)}")
        plot_translation(translation, out, style, layer, head, grid, pieces)
        typer.echo(translation.text)
        _stderr().print(f"wrote {out}")


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option("--data", "-d", help="TSV of source<TAB>reference pairs.")],
    align: Annotated[
        Optional[Path],
        typer.Option("--align", help="Gold word alignments (Pharaoh, one line a pair): score the attention too."),
    ] = None,
    beam: BeamOption = None,
    output_file: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Hypotheses file. [default: <run>/<data name>.hyp.txt]")
    ] = None,
    run: RunOption = None,
    runs_dir: RunsDirOption = Path("runs"),
) -> None:
    """Score a run on a test set: sacreBLEU, chrF, exact match, speed; attention vs gold alignments."""
    with user_errors():
        import json

        from seq2seq_cli.evaluate import evaluate as score
        from seq2seq_cli.runs import find_run
        from seq2seq_cli.translator import Translator

        run_dir = find_run(run, runs_dir)
        translator = Translator.from_run(run_dir).with_decoding(beam_size=beam)
        report, hypotheses = score(translator, data, align)
        output_file = output_file or run_dir / f"{data.stem}.hyp.txt"
        _write_lines(hypotheses, output_file)
        _write_lines([json.dumps(report.as_dict(), indent=2)], run_dir / f"{data.stem}.eval.json")
        _print_report(report, data, output_file)


def _print_report(report, data: Path, hypotheses_file: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{data}: {report.sentences} sentences, beam {report.decode['beam_size']}", show_header=False)
    table.add_row("BLEU", f"{report.bleu:.2f}")
    table.add_row("chrF", f"{report.chrf:.2f}")
    table.add_row("exact match", f"{100 * report.exact_match:.1f}%")
    table.add_row("token accuracy (teacher-forced)", f"{100 * report.token_accuracy:.1f}%")
    table.add_row("speed", f"{report.sentences_per_s:,.1f} sentences/s")
    if report.alignment_agreement is not None:
        table.add_row("top-attended source word is gold", f"{100 * report.alignment_agreement:.1f}%")
        table.add_row("alignment error rate (AER)", f"{100 * report.aer:.1f}%")
    console = Console(highlight=False, soft_wrap=True)
    console.print(table)
    console.print(f"BLEU signature: {report.bleu_signature}\nchrF signature: {report.chrf_signature}")
    console.print(f"hypotheses: {hypotheses_file}")


def main() -> None:
    app()
