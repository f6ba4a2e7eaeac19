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
    add_completion=True,  # s2s --install-completion: Tab completes commands, options and file names
    context_settings={"help_option_names": ["-h", "--help"]},
)

RunOption = Annotated[Optional[str], typer.Option("--run", help="Run folder or name inside --runs-dir. [default: newest run]")]
RunsDirOption = Annotated[Path, typer.Option("--runs-dir", help="Where runs live.")]
CheckpointOption = Annotated[
    str, typer.Option("--checkpoint", help="Weights: a .pt file in the run folder (average-last5.pt...) or a path.")
]


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
    init_from: Annotated[
        Optional[str],
        typer.Option("--init-from", help="Fine-tune: start from RUN's best weights, vocabularies and tokenisers "
                                         "(a run folder or a name in --runs-dir); sets train.init_from."),
    ] = None,
) -> None:
    """Train a model and checkpoint it to [bold]runs/<name>/[/], fine-tune one ([bold]--init-from[/]) or [bold]--resume[/] one."""
    with user_errors():
        from rich.console import Console

        from seq2seq_cli import training

        console = Console(highlight=False, soft_wrap=True)
        if resume and init_from is not None:
            raise S2SError("--init-from starts a new run from a trained one and --resume continues an interrupted one: "
                           "give one of them")
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

        if init_from is not None:
            overrides = [*(overrides or []), _init_from_override(init_from, runs_dir)]
        settings = load_config(config, overrides or [])
        if runs_dir is not None:  # given on the command line: it wins over the config's train.runs_dir
            settings.train.runs_dir = str(runs_dir)
        for message in unused_settings(settings):
            _warn(message)
        training.train(settings, settings.train.name or config.stem, console)


@app.command()
def prepare(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML config file.")],
    overrides: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override a config key, e.g. --set data.cache_dir=/scratch/s2s.")
    ] = None,
) -> None:
    """Tokenise and index the training data once into [bold]data.cache_dir[/] ([bold]s2s train[/] does it on first use)."""
    with user_errors():
        from rich.console import Console

        from seq2seq_cli import cache, finetune
        from seq2seq_cli.config import load_config, unused_settings

        console = Console(highlight=False, soft_wrap=True)
        settings = load_config(config, overrides or [])
        for message in unused_settings(settings):
            _warn(message)
        parent = finetune.load_parent(settings, console) if settings.train.init_from else None
        given = cache.Given(parent.vocabs, parent.run_dir) if parent else None
        prepared = cache.prepare(settings, console, given=given)
        console.print(f"ready: {prepared.folder} ({prepared.meta['pairs']:,} training pairs)", markup=False)


def _init_from_override(run: str, runs_dir: Optional[Path]) -> str:
    """``--init-from RUN`` as the ``train.init_from`` it sets: a name is looked up in --runs-dir when one
    is given, otherwise (while the config is read) in its train.runs_dir."""
    import json

    if runs_dir is not None:
        from seq2seq_cli.finetune import resolve_parent

        run = str(resolve_parent(run, runs_dir))
    return f"train.init_from={json.dumps(run)}"


def _warn(message: str) -> None:
    from rich.markup import escape

    _stderr().print(f"[yellow]warning:[/] {escape(message)}")


BeamOption = Annotated[
    Optional[int], typer.Option("--beam", min=1, help="Beam size (1: greedy). [default: the run's decode.beam_size]")
]
LengthPenaltyOption = Annotated[
    Optional[float],
    typer.Option("--length-penalty", min=0.0,
                 help="Beam search's length penalty alpha (0: none; tune it on the validation set). "
                 "[default: the run's decode.length_penalty]"),
]
EngineOption = Annotated[
    str, typer.Option("--engine", help="What runs the search: torch, onnx or onnx-int8 (after s2s export; CPU, onnxruntime).")
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
    length_penalty: LengthPenaltyOption = None,
    nbest: Annotated[
        int, typer.Option("--nbest", min=1, help="Translations per sentence, best first (i ||| text ||| score).")
    ] = 1,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object a line: tokens, score and attention of each translation.")
    ] = False,
    align: Annotated[
        bool,
        typer.Option("--align", help="Add each translation's word alignment from attention (' ||| 0-0 2-1'; JSON: also soft)."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Files and stdin: no progress bar, and one warning line at the end.")
    ] = False,
    interactive: Annotated[
        bool, typer.Option("--interactive", help="A prompt with history (also the default with no sentence on a terminal).")
    ] = False,
    attend: Annotated[bool, typer.Option("--attend", help="--interactive: show each translation's attention too.")] = False,
    chunk: Annotated[
        int, typer.Option("--chunk", min=1, help="Files and stdin: lines read, length-sorted and translated together.")
    ] = 10_000,
    run: RunOption = None,
    runs_dir: RunsDirOption = Path("runs"),
    checkpoint: CheckpointOption = "best.pt",
    engine: EngineOption = "torch",
) -> None:
    """Translate a sentence, a file of any size, stdin ([bold]-[/], answered as lines arrive), or at a prompt."""
    with user_errors():
        from seq2seq_cli.runs import find_run
        from seq2seq_cli.translator import Translator

        if text is not None and input_file is not None:
            raise S2SError("give a sentence or --input FILE, not both")
        interactive = interactive or (text is None and input_file is None and sys.stdin.isatty())
        if attend and not interactive:
            raise S2SError("--attend shows attention at the --interactive prompt; for files use s2s attend --out FILE.html")
        if text is None and input_file is None and not interactive:
            raise S2SError("nothing to translate: give a sentence, - for stdin, --input FILE, or --interactive")
        if input_file is not None and not input_file.is_file():
            raise S2SError(f"{input_file}: no such file")
        run_dir = find_run(run, runs_dir)
        translator = _decoding(Translator.from_run(run_dir, checkpoint), beam, length_penalty, n_best=nbest)
        translator = _with_engine(translator, run_dir, engine, checkpoint)
        if interactive:
            from seq2seq_cli.interactive import prompt_loop

            return prompt_loop(translator, attend, nbest)
        if text is not None and text != "-":
            return _translate_sentence(translator, text, output_file, nbest, as_json, align)
        _translate_lines(translator, input_file, output_file, nbest, as_json, align, quiet, chunk)


def _decoding(translator, beam: Optional[int], length_penalty: Optional[float], **more):
    """The translator with the command line's decode settings; a length penalty greedy search ignores is a warning."""
    translator = translator.with_decoding(beam_size=beam, length_penalty=length_penalty, **more)
    decode = translator.config.decode
    if length_penalty is not None and decode.beam_size == 1 and decode.n_best == 1:
        _warn("--length-penalty does nothing with greedy search (beam 1): give --beam 2 or more")
    return translator


def _translate_sentence(translator, text: str, output_file: Optional[Path], nbest: int, as_json: bool, align: bool) -> None:
    from seq2seq_cli.translator import render_lines, translate_lines

    outputs = translate_lines(translator, [text], _warn, keep_blank=False)
    _write_lines(render_lines([text], outputs, nbest, as_json, align), output_file)


def _translate_lines(translator, input_file: Optional[Path], output_file: Optional[Path], nbest: int, as_json: bool,
                     align: bool, quiet: bool, chunk: int) -> None:
    """A file or stdin, chunk by chunk: constant memory, output in input order, a progress bar on a terminal."""
    from seq2seq_cli import streams
    from seq2seq_cli.translator import render_lines

    shown = not quiet and sys.stderr.isatty()
    if input_file is not None:  # counted (a second read of the file) only for a progress bar that shows it
        chunks = streams.file_chunks(streams.read_lines(input_file), chunk)
        total = streams.count_lines(input_file) if shown else None
    else:  # what has arrived: `tail -f log | s2s translate -` sees each answer as its line is read
        chunks, total = streams.arrived_chunks((line.rstrip("\r\n") for line in sys.stdin), chunk), None

    def render(lines: list[str], outputs, first: int) -> list[str]:
        return render_lines(lines, outputs, nbest, as_json, align, first)

    with streams.progress_bar(total, shown=shown) as (advance, warn):
        with streams.output_sink(output_file) as write:
            summary = streams.translate_stream(translator, chunks, write, render, None if quiet else warn, advance)
    if quiet and summary.with_unknown:
        _warn(f"{summary.with_unknown:,} of {summary.lines:,} lines have unknown words, read as <unk> (without --quiet: which)")


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


ATTEND_TYPES = (".png", ".svg", ".pdf", ".html", ".gif")


@app.command()
def attend(
    text: Annotated[
        Optional[str],
        typer.Argument(help=f"Sentence whose attention to show, or - for one a line from stdin. [default: {DEFAULT_SENTENCE!r}]"),
    ] = None,
    input_file: Annotated[
        Optional[Path], typer.Option("--input", "-i", help="Sentences, one a line (with --align: pairs, TSV or .jsonl).")
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out", "-o",
            help="Picture (.png .svg .pdf), explorer page (.html); with --over-training .html or .gif. [default: attention.png]",
        ),
    ] = None,
    as_text: Annotated[bool, typer.Option("--text", help="Print the matrix as a coloured table in the terminal.")] = False,
    style: Annotated[
        Optional[str], typer.Option("--style", help="Pictures: grid (dark, cell borders) or annotated (light, weights printed).")
    ] = None,
    layer: Annotated[
        Optional[int], typer.Option("--layer", help="Multi-head models: which decoder layer. [default: the last]")
    ] = None,
    head: Annotated[Optional[int], typer.Option("--head", help="Multi-head models: which head. [default: their average]")] = None,
    grid: Annotated[bool, typer.Option("--grid", help="Multi-head models: every head of the layer in one image.")] = False,
    pieces: Annotated[bool, typer.Option("--pieces", help="Subword models: show the pieces, not whole words.")] = False,
    beam: BeamOption = None,
    nbest: Annotated[int, typer.Option("--nbest", min=1, help=".html: show the N best hypotheses, each with its attention.")] = 1,
    align: Annotated[
        Optional[Path],
        typer.Option("--align", help=".html: gold alignments (Pharaoh) of the --input pairs, drawn on the grid, with each AER."),
    ] = None,
    over_training: Annotated[
        bool, typer.Option("--over-training", help="The run's probe sentences at every validation (.html slider or .gif).")
    ] = False,
    run: Annotated[
        Optional[list[str]],
        typer.Option("--run", help="Run folder or name inside --runs-dir; repeat to compare runs (.html). [default: newest run]"),
    ] = None,
    runs_dir: RunsDirOption = Path("runs"),
) -> None:
    """Show attention: a heatmap picture, an interactive [bold].html[/] explorer, or a table in the terminal."""
    with user_errors():
        from seq2seq_cli.plot import check_image_path
        from seq2seq_cli.runs import find_run

        out = out if out is not None or as_text else Path("attention.png")
        if out is not None:
            check_image_path(out, ATTEND_TYPES)
        kind = out.suffix.lower() if out is not None else None
        if over_training:
            _check_over_training_options(kind, text, input_file, as_text, nbest, align, beam, run)
            return _attend_over_training(find_run(run[0] if run else None, runs_dir), out, kind)
        if kind == ".gif":
            raise S2SError(f"{out}: a .gif shows attention over training: add --over-training, or use .png or .html")
        run_dirs = [find_run(name, runs_dir) for name in (run or [None])]
        lines = _attend_lines(text, input_file, align)
        if kind == ".html":
            if style is not None or grid or layer is not None or head is not None:
                raise S2SError("--style, --layer, --head and --grid choose one picture; the .html page has pickers for them")
            return _attend_page(run_dirs, lines, out, beam, nbest, pieces, input_file, align)
        _check_one_picture(lines, run_dirs, nbest, align, as_text, out)
        _attend_picture(run_dirs[0], lines, out, as_text, style or "grid", layer, head, grid, pieces, beam)


def _check_over_training_options(kind, text, input_file, as_text, nbest, align, beam, run) -> None:
    if kind not in (".html", ".gif"):
        raise S2SError("--over-training writes a page or an animation: give --out FILE.html or --out FILE.gif")
    given = [name for name, used in (("a sentence", text is not None), ("--input", input_file is not None), ("--text", as_text),
                                     ("--nbest", nbest > 1), ("--align", align is not None), ("--beam", beam is not None),
                                     ("a second --run", run is not None and len(run) > 1)) if used]
    if given:
        raise S2SError(f"--over-training shows the probe sentences the run kept while it trained: drop {', '.join(given)}")


def _attend_lines(text: Optional[str], input_file: Optional[Path], align: Optional[Path]) -> list[str]:
    """The sentences to show; with --align, the --input file is read as source<TAB>reference pairs."""
    if align is not None and input_file is None:
        raise S2SError("--align needs --input FILE: the source<TAB>reference pairs its links belong to")
    if input_file is not None and align is not None:
        if text is not None:
            raise S2SError("give a sentence or --input FILE, not both")
        return []  # read as pairs by the page builder
    lines = _input_lines(DEFAULT_SENTENCE if text is None and input_file is None else text, input_file)
    lines = [line for line in lines if line.strip()] if input_file is not None or text == "-" else lines
    if not lines:
        raise S2SError(f"{input_file or 'stdin'}: no sentences to show")
    return lines


def _check_one_picture(
    lines: list[str], run_dirs: list[Path], nbest: int, align: Optional[Path], as_text: bool, out: Optional[Path]
) -> None:
    what = "a picture" if not as_text else "--text"
    if len(run_dirs) > 1:
        raise S2SError(f"{what} shows one run: compare runs with --out FILE.html")
    if nbest > 1:
        raise S2SError(f"{what} shows the best translation: see the --nbest hypotheses with --out FILE.html")
    if align is not None:
        raise S2SError(f"{what} cannot draw gold links: use --out FILE.html with --align")
    if len(lines) > 1 and (not as_text or out is not None):
        raise S2SError(f"a picture shows one sentence, not {len(lines)}: use --out FILE.html (or --text alone)")


def _attend_picture(run_dir: Path, lines: list[str], out: Optional[Path], as_text: bool, style: str,
                    layer: Optional[int], head: Optional[int], grid: bool, pieces: bool, beam: Optional[int]) -> None:
    """The best translation of each sentence as a picture (one sentence) and/or coloured tables."""
    if style not in ("grid", "annotated"):
        raise S2SError(f"--style must be grid or annotated, got {style!r}")
    from seq2seq_cli.plot import attention_table, chosen_map, plot_translation
    from seq2seq_cli.translator import Translator, translate_lines

    translator = Translator.from_run(run_dir).with_decoding(beam_size=beam, n_best=1)
    warn = _stderr().print
    outputs = translate_lines(translator, lines, lambda message: warn(f"[yellow]warning:[/] {message}"), len(lines) > 1)
    for candidates in outputs:
        translation = candidates[0]
        if out is not None:
            plot_translation(translation, out, style, layer, head, grid, pieces)
        typer.echo(translation.text)
        if as_text:
            shown = translation if pieces else translation.by_words()
            weights, title = chosen_map(shown, layer, head)
            from rich.console import Console

            Console(highlight=False, soft_wrap=True).print(attention_table(shown.source, shown.steps, weights, title))
    if out is not None:
        _stderr().print(f"wrote {out}")


def _attend_page(run_dirs: list[Path], lines: list[str], out: Path, beam: Optional[int], nbest: int, pieces: bool,
                 input_file: Optional[Path], align: Optional[Path]) -> None:
    """The interactive explorer: every sentence, every run, the n-best, gold links when given."""
    from seq2seq_cli.data import read_pairs
    from seq2seq_cli.evaluate import read_alignments
    from seq2seq_cli.explorer import Run, run_names, translations_document
    from seq2seq_cli.page import write_page

    runs_to_show = [Run.load(d, name, beam_size=beam, n_best=nbest) for d, name in zip(run_dirs, run_names(run_dirs))]
    pairs = gold = None
    if align is not None:
        data = runs_to_show[0].translator.config.data  # a .jsonl file's sides are the first run's languages
        pairs = read_pairs(input_file, (data.source_lang, data.target_lang))
        gold = read_alignments(align, len(pairs))
        lines = [pair.source for pair in pairs]
    for shown in runs_to_show:  # every sentence must suit every run: one error naming the line, before any work
        _check_lines(shown, lines, numbered=input_file is not None or len(lines) > 1)
    document = translations_document(runs_to_show, lines, pieces, pairs, gold, data=input_file or "input")
    write_page(document, out)
    for shown, view in zip(runs_to_show, zip(*(s["views"] for s in document["sentences"]))):
        unknown = sorted({word for v in view for word in v["unknown"]})
        if unknown:
            _warn(f"{shown.name}: unknown words read as <unk>: {', '.join(unknown)}")
    size = out.stat().st_size / 1024
    _stderr().print(f"wrote {out} ({len(lines)} sentence{'s' * (len(lines) != 1)}, {len(runs_to_show)} run"
                    f"{'s' * (len(runs_to_show) != 1)}, {size:,.0f} KB)")


def _check_lines(shown, lines: list[str], numbered: bool) -> None:
    from seq2seq_cli.errors import DataError
    from seq2seq_cli.translator import line_tokens

    for number, line in enumerate(lines, 1):
        try:
            line_tokens(shown.translator, line, number, numbered)
        except DataError as exc:
            raise DataError(f"{shown.name}: {exc}") from None


def _attend_over_training(run_dir: Path, out: Path, kind: str) -> None:
    from seq2seq_cli.explorer import training_document

    document = training_document(run_dir, run_dir.name)
    training = document["training"]
    if kind == ".gif":
        from seq2seq_cli.plot import animate_training

        animate_training(training, out)
    else:
        from seq2seq_cli.page import write_page

        write_page(document, out)
    _stderr().print(f"wrote {out}: {len(training['probes'])} probe sentences over {len(training['validations'])} validations")


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option("--data", "-d", help="Source/reference pairs: TSV or JSON Lines (.jsonl), maybe .gz.")],
    align: Annotated[
        Optional[Path],
        typer.Option("--align", help="Gold word alignments (Pharaoh, one line a pair): score the attention too."),
    ] = None,
    beam: BeamOption = None,
    length_penalty: LengthPenaltyOption = None,
    output_file: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Hypotheses file. [default: <run>/<data name>.hyp.txt]")
    ] = None,
    run: RunOption = None,
    runs_dir: RunsDirOption = Path("runs"),
    checkpoint: CheckpointOption = "best.pt",
    lang: Annotated[
        Optional[str],
        typer.Option("--lang", help="The references' language, for the WMT-recipe BLEU's Moses tokeniser. "
                     "[default: the run's data.target_lang, else en]"),
    ] = None,
    engine: EngineOption = "torch",
) -> None:
    """Score a run on a test set: sacreBLEU, chrF, exact match, speed; attention vs gold alignments."""
    with user_errors():
        import json

        from seq2seq_cli.evaluate import evaluate as score
        from seq2seq_cli.runs import find_run
        from seq2seq_cli.translator import Translator

        run_dir = find_run(run, runs_dir)
        translator = _decoding(Translator.from_run(run_dir, checkpoint), beam, length_penalty)
        translator = _with_engine(translator, run_dir, engine, checkpoint)
        report, hypotheses = score(translator, data, align, lang)
        report.decode["engine"] = engine
        name = data.stem if engine == "torch" else f"{data.stem}.{engine}"  # one engine's scores never overwrite another's
        output_file = output_file or run_dir / f"{name}.hyp.txt"
        _write_lines(hypotheses, output_file)
        _write_lines([json.dumps(report.as_dict(), indent=2)], run_dir / f"{name}.eval.json")
        _print_report(report, data, output_file)


@app.command()
def average(
    run: Annotated[Optional[str], typer.Argument(help="Run folder or name inside --runs-dir. [default: newest run]")] = None,
    last: Annotated[
        Optional[int], typer.Option("--last", help="Average the last N validations' weights (needs train.keep_last >= N).")
    ] = None,
    best: Annotated[
        Optional[int], typer.Option("--best", help="Average the N best validations' weights (needs train.keep_best >= N).")
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Where to write it. [default: <run>/average-last<N>.pt or -best<N>]")
    ] = None,
    runs_dir: RunsDirOption = Path("runs"),
) -> None:
    """Average a run's last or best checkpoints into one; use it with [bold]--checkpoint[/]."""
    with user_errors():
        from seq2seq_cli.averaging import average_run
        from seq2seq_cli.runs import find_run

        run_dir = find_run(run, runs_dir)
        averaged = average_run(run_dir, last, best, out)
        steps = ", ".join(str(step) for step in averaged.steps)
        _stderr().print(f"averaged the {averaged.chosen_by} checkpoints (steps {steps}) into {averaged.path}")
        name = averaged.path.name if averaged.path.parent.resolve() == run_dir.resolve() else str(averaged.path)
        _stderr().print(f"use it: s2s evaluate --run {run_dir} --checkpoint {name} --data TEST.tsv")


@app.command()
def serve(
    run: RunOption = None,
    runs_dir: RunsDirOption = Path("runs"),
    checkpoint: CheckpointOption = "best.pt",
    host: Annotated[str, typer.Option("--host", help="Address to listen on; 0.0.0.0 exposes it to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    batch_window_ms: Annotated[
        float,
        typer.Option("--batch-window-ms", min=0,
                     help="A batch closes after this long without a request (10 windows at most; 0: none)."),
    ] = 5.0,
    max_texts: Annotated[int, typer.Option("--max-texts", min=1, help="Texts one request may hold.")] = 64,
    max_beam: Annotated[int, typer.Option("--max-beam", min=1, help="The largest beam a request may ask for.")] = 16,
) -> None:
    """Serve a run over HTTP: [bold]POST /translate[/], [bold]GET /health[/], and the live explorer at [bold]/[/]."""
    with user_errors():
        from seq2seq_cli import wait_passively

        wait_passively()  # before torch loads
        from seq2seq_cli.serve import ServeSettings, check_installed
        from seq2seq_cli.serve import serve as run_server

        check_installed()
        from seq2seq_cli.runs import find_run
        from seq2seq_cli.translator import Translator

        run_dir = find_run(run, runs_dir)
        translator = Translator.from_run(run_dir, checkpoint)
        settings = ServeSettings(batch_window_ms=batch_window_ms, max_texts=max_texts, max_beam=max_beam)
        _stderr().print(f"serving {run_dir} on http://{host}:{port}/ (POST /translate, GET /health; Ctrl-C stops)")
        run_server(translator, host, port, settings, run_dir.name, _warn)


@app.command()
def doctor(
    config: Annotated[
        Optional[Path], typer.Option("--config", "-c", help="Also check this config's data against the machine.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as one JSON object.")] = False,
    seconds: Annotated[float, typer.Option("--seconds", min=0.1, help="Time for each matmul measurement.")] = 1.0,
) -> None:
    """Describe this machine for s2s (CPU, torch build, measured matmul peaks, threads) and warn about what will hurt."""
    with user_errors():
        import json

        from seq2seq_cli.config import load_config
        from seq2seq_cli.doctor import examine, render

        report = examine(seconds, load_config(config) if config is not None else None)
        typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else render(report))


def _print_report(report, data: Path, hypotheses_file: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from seq2seq_cli.evaluate import WMT_INSTALL

    table = Table(title=f"{data}: {report.sentences} sentences, beam {report.decode['beam_size']}", show_header=False)
    table.add_row("BLEU", f"{report.bleu:.2f}")
    if report.wmt_bleu is not None:
        table.add_row("BLEU, WMT recipe", f"{report.wmt_bleu:.2f}")
    else:
        _warn(f"BLEU by the WMT recipe (lowercased, Moses-tokenised) needs sacremoses: {WMT_INSTALL}")
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
    if report.wmt_signature:
        console.print(f"WMT-recipe BLEU signature: {report.wmt_signature}")
    console.print(f"hypotheses: {hypotheses_file}")


@app.command("runs")
def list_runs(
    runs_dir: RunsDirOption = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list of the runs instead of a table.")] = False,
) -> None:
    """List the runs in a folder: model, steps, best BLEU, size, when, finished or not."""
    with user_errors():
        import json

        from seq2seq_cli.catalog import run_summaries, runs_table

        summaries = run_summaries(runs_dir)
        if as_json:
            typer.echo(json.dumps([s.as_dict() for s in summaries], indent=2, ensure_ascii=False))
        elif not summaries:
            _stderr().print(f"no runs in {runs_dir}/ yet: train one with s2s train --config CONFIG")
        else:
            from rich.console import Console

            Console(highlight=False, soft_wrap=True).print(runs_table(summaries, f"{len(summaries)} runs in {runs_dir}/"))


@app.command()
def compare(
    run: Annotated[list[str], typer.Argument(help="Runs to compare: folders, or names inside --runs-dir.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Picture: .png, .svg or .pdf.")] = Path("compare.png"),
    metric: Annotated[str, typer.Option("--metric", help="What to plot: bleu, chrf or loss (all on validation).")] = "bleu",
    x: Annotated[str, typer.Option("--x", help="Against what: step, or minutes of training.")] = "step",
    runs_dir: RunsDirOption = Path("runs"),
) -> None:
    """Draw several runs' validation curves on one plot, one line per run."""
    with user_errors():
        from seq2seq_cli.catalog import AXES, METRICS, check_choice, validation_curves
        from seq2seq_cli.plot import check_image_path, plot_comparison
        from seq2seq_cli.runs import find_run

        check_choice("--metric", metric, list(METRICS))
        check_choice("--x", x, list(AXES))
        check_image_path(out)
        run_dirs = [find_run(name, runs_dir, need_checkpoint=False) for name in run]
        plot_comparison(validation_curves(run_dirs, metric, x), out, AXES[x], METRICS[metric][1])
        _stderr().print(f"wrote {out}: {METRICS[metric][1]} of {len(run_dirs)} run{'s' * (len(run_dirs) != 1)} against {AXES[x]}")


def _with_engine(translator, run_dir: Path, engine: str, checkpoint: str):
    """The translator unchanged for torch; for onnx / onnx-int8 its search runs the run's exported graphs."""
    if engine == "torch":
        return translator
    from seq2seq_cli.export import with_engine

    return with_engine(translator, run_dir, engine, checkpoint)


@app.command("export")
def export_run(
    run: Annotated[Optional[str], typer.Argument(help="Run folder or name inside --runs-dir. [default: newest run]")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Export format (onnx: the encoder and one decoder step).")] = "onnx",
    int8: Annotated[
        bool, typer.Option("--int8", help="Also write int8 graphs (onnxruntime's dynamic quantisation) for --engine onnx-int8.")
    ] = False,
    runs_dir: RunsDirOption = Path("runs"),
    checkpoint: CheckpointOption = "best.pt",
) -> None:
    """Export a run as ONNX graphs into [bold]<run>/onnx/[/], checked against torch; use them with [bold]--engine onnx[/]."""
    with user_errors():
        from seq2seq_cli.export import FOLDER, export_run
        from seq2seq_cli.runs import find_run

        run_dir = find_run(run, runs_dir)
        record = export_run(run_dir, fmt, int8, checkpoint)
        for kind in ("fp32", "int8"):
            if kind in record:
                check = record[kind]
                agree = "same tokens" if check["same_tokens"] else f"{100 * check['same_token_share']:.0f}% same tokens"
                _stderr().print(f"{kind}: {agree} as torch on {check['sentences']} test sentences, "
                                f"largest log-probability difference {check['max_log_prob_diff']:.2g}", markup=False)
        engines = "--engine onnx" + (" or --engine onnx-int8" if int8 else "")
        _stderr().print(f"wrote {run_dir / FOLDER}/ ({', '.join(record['files'])}); translate with {engines}", markup=False)


def main() -> None:
    app()
