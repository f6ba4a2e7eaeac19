"""``s2s attend``: attention as a picture, an interactive explorer page, a terminal table, or over training."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, NamedTuple, Optional

import typer

from seq2seq_cli.cli.app import app
from seq2seq_cli.cli.common import (
    input_lines,
    open_translator,
    pick_run,
    renamed,
    stderr,
    stdout,
    user_errors,
    warn,
    with_prefix,
)
from seq2seq_cli.cli.options import (
    DEFAULT_SENTENCE,
    AttributionOption,
    BeamOption,
    Device,
    DeviceOption,
    EnsembleOption,
    IgStepsOption,
    OldOutOption,
    PrefixOption,
    RunsDirOption,
)
from seq2seq_cli.errors import S2SError

ATTEND_TYPES = (".png", ".svg", ".pdf", ".html", ".gif")


class Style(StrEnum):
    grid = "grid"
    annotated = "annotated"


TextArgument = Annotated[
    Optional[str],
    typer.Argument(help=f"Sentence whose attention to show, or - for one a line from stdin. [default: {DEFAULT_SENTENCE!r}]"),
]
InputOption = Annotated[
    Optional[Path], typer.Option("--input", "-i", help="Sentences, one a line (with --align: pairs, TSV or .jsonl).")
]
OutputOption = Annotated[
    Optional[Path],
    typer.Option("--output", "-o", help="Picture (.png .svg .pdf), explorer page (.html); with --over-training .html or .gif. "
                 "[default: attention.png]"),
]
TextOption = Annotated[bool, typer.Option("--text", help="Print the matrix as a coloured table in the terminal.")]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print each translation's attention (and attribution) as JSON; draw no picture.")
]
StyleOption = Annotated[
    Optional[Style], typer.Option("--style", help="Pictures: grid (dark, cell borders) or annotated (light, weights printed).")
]
LayerOption = Annotated[
    Optional[int], typer.Option("--layer", help="Multi-head models: which decoder layer. [default: the last]")
]
HeadOption = Annotated[Optional[int], typer.Option("--head", help="Multi-head models: which head. [default: their average]")]
GridOption = Annotated[bool, typer.Option("--grid", help="Multi-head models: every head of the layer in one image.")]
PiecesOption = Annotated[bool, typer.Option("--pieces", help="Subword models: show the pieces, not whole words.")]
NbestOption = Annotated[
    int, typer.Option("--nbest", min=1, help=".html: show the N best hypotheses, each with its attention.")
]
GoldOption = Annotated[
    Optional[Path],
    typer.Option("--align", help=".html: gold alignments (Pharaoh) of the --input pairs, drawn on the grid, with each AER."),
]
OverTrainingOption = Annotated[
    bool, typer.Option("--over-training", help="The run's probe sentences at every validation (.html slider or .gif).")
]
PerModelOption = Annotated[
    bool, typer.Option("--per-model", help="With --ensemble: each model's attention side by side, not their average.")
]
RunsOption = Annotated[
    Optional[list[str]],
    typer.Option("--run", "-r",
                 help="Run folder or name inside --runs-dir; repeat to compare runs (.html). [default: newest run]"),
]


@app.command()
def attend(
    text: TextArgument = None,
    input_file: InputOption = None,
    out: OutputOption = None,
    as_text: TextOption = False,
    style: StyleOption = None,
    layer: LayerOption = None,
    head: HeadOption = None,
    grid: GridOption = False,
    pieces: PiecesOption = False,
    beam: BeamOption = None,
    nbest: NbestOption = 1,
    align: GoldOption = None,
    over_training: OverTrainingOption = False,
    attribution: AttributionOption = None,
    ig_steps: IgStepsOption = None,
    as_json: JsonOption = False,
    prefix: PrefixOption = None,
    run: RunsOption = None,
    ensemble: EnsembleOption = None,
    per_model: PerModelOption = False,
    runs_dir: RunsDirOption = Path("runs"),
    device: DeviceOption = Device.cpu,
    old_out: OldOutOption = None,
) -> None:
    """Show attention: a heatmap picture, an interactive [bold].html[/] explorer, or a table in the terminal;
    with [bold]--attribution[/], beside what each source word contributed to each output word."""
    with user_errors():
        explain = _Explain(attribution.value if attribution else None, _ig_steps(attribution, ig_steps), prefix)
        out, kind = _output(renamed(out, old_out, "--output", "--out"), as_text or as_json)
        if as_json:
            _check_json_options(out, as_text)
        if over_training:
            _check_over_training_options(kind, text, input_file, as_text, nbest, align, beam, run, explain, bool(ensemble))
            return _attend_over_training(pick_run(run[0] if run else None, runs_dir), out, kind)
        if kind == ".gif":
            raise S2SError(f"{out}: a .gif shows attention over training: add --over-training, or use .png or .html")
        _check_ensemble_options(run, ensemble, per_model, kind, as_json, (layer, head, grid), explain)
        lines = _attend_lines(text, input_file, align)
        if kind == ".html":
            if style is not None or grid or layer is not None or head is not None:
                raise S2SError("--style, --layer, --head and --grid choose one picture; the .html page has pickers for them")
            shown_runs = _page_runs(run, ensemble, runs_dir, device.value, beam_size=beam, n_best=nbest)
            return _attend_page(shown_runs, lines, out, beam, nbest, pieces, input_file, align, explain)
        _check_one_picture(lines, len(run or [None]), nbest, align, as_text or as_json, out)
        _check_attribution_picture(explain, grid, style)
        members = _member_names(ensemble) if per_model else None
        shown = _Picture(style.value if style else "grid", layer, head, grid, pieces, members)
        translator, _ = open_translator(run[0] if run else None, runs_dir, None, device.value, ensemble, per_model)
        _attend_picture(translator, lines, out, (as_text, as_json), shown, beam, explain)


def _check_attribution_picture(explain: _Explain, grid: bool, style) -> None:
    if explain.method is not None and (grid or style is not None):
        raise S2SError("--attribution draws attention beside attribution: drop --grid and --style")


def _check_ensemble_options(run, ensemble, per_model: bool, kind, as_json: bool, picks: tuple, explain: _Explain) -> None:
    """--per-model belongs to an --ensemble's picture or tables; the rest of an ensemble reads as one model."""
    if ensemble and run:
        raise S2SError("--ensemble names every model: drop --run (--run twice compares runs side by side)")
    if ensemble and len(ensemble) > 1 and explain.method is not None:
        warn("--ensemble: the translation comes from the ensemble; attribution reads its first member")
    if not per_model:
        return
    given = [name for name, used in (("without --ensemble", not ensemble), ("with an .html page", kind == ".html"),
                                     ("with --json", as_json), ("with --attribution", explain.method is not None),
                                     ("with --layer, --head or --grid", picks != (None, None, False))) if used]
    if given:
        raise S2SError(f"--per-model draws each --ensemble model's attention as a picture or --text tables: not {given[0]}")


def _member_names(ensemble: list[str]) -> list[str]:
    return [spec.rstrip("/") for spec in ensemble]


def _page_runs(run, ensemble, runs_dir: Path, device: str, **decoding) -> list:
    """The explorer's columns: each --run, or one column for the --ensemble decoded as one model."""
    from seq2seq_cli.viz.explorer import Run, run_names

    if ensemble:
        translator, _ = open_translator(None, runs_dir, None, device, ensemble)
        return [Run(f"ensemble of {' + '.join(_member_names(ensemble))}", translator.with_decoding(**decoding))]
    run_dirs = [pick_run(name, runs_dir) for name in (run or [None])]
    return [Run.load(d, name, device, **decoding) for d, name in zip(run_dirs, run_names(run_dirs))]


class _Explain(NamedTuple):
    """What to explain beside attention: an attribution method (or none), its steps, a forced prefix."""

    method: Optional[str]
    steps: int
    prefix: Optional[str]


def _ig_steps(method, steps: Optional[int]) -> int:
    """--ig-steps belongs to integrated gradients: anywhere else it would be ignored, so it is an error."""
    if steps is not None and (method is None or method.value != "ig"):
        raise S2SError("--ig-steps sets integrated gradients' path: it needs --attribution ig")
    return 32 if steps is None else steps


def _check_json_options(out: Optional[Path], as_text: bool) -> None:
    if out is not None:
        raise S2SError("--json prints to stdout and draws no picture: drop --output")
    if as_text:
        raise S2SError("--json and --text both print: choose one")


class _Picture(NamedTuple):
    """What one picture shows: its style, and for multi-head models which layer and head, or all."""

    style: str
    layer: Optional[int]
    head: Optional[int]
    grid: bool
    pieces: bool
    members: Optional[list[str]] = None  # --per-model: the ensemble's models, named as given


def _output(out: Optional[Path], as_text: bool) -> tuple[Optional[Path], Optional[str]]:
    """Where the picture or page goes (attention.png unless --text alone) and its kind, checked before any work."""
    from seq2seq_cli.viz.plot import check_image_path

    out = out if out is not None or as_text else Path("attention.png")
    if out is not None:
        check_image_path(out, ATTEND_TYPES)
    return out, out.suffix.lower() if out is not None else None


def _check_over_training_options(kind, text, input_file, as_text, nbest, align, beam, run, explain: _Explain,
                                 ensemble: bool) -> None:
    if kind not in (".html", ".gif"):
        raise S2SError("--over-training writes a page or an animation: give --output FILE.html or --output FILE.gif")
    given = [name for name, used in (("a sentence", text is not None), ("--input", input_file is not None), ("--text", as_text),
                                     ("--nbest", nbest > 1), ("--align", align is not None), ("--beam", beam is not None),
                                     ("a second --run", run is not None and len(run) > 1),
                                     ("--attribution", explain.method is not None), ("--ensemble", ensemble),
                                     ("--prefix", explain.prefix is not None)) if used]
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
    lines = input_lines(DEFAULT_SENTENCE if text is None and input_file is None else text, input_file)
    lines = [line for line in lines if line.strip()] if input_file is not None or text == "-" else lines
    if not lines:
        raise S2SError(f"{input_file or 'stdin'}: no sentences to show")
    return lines


def _check_one_picture(
    lines: list[str], runs: int, nbest: int, align: Optional[Path], as_text: bool, out: Optional[Path]
) -> None:
    what = "a picture" if not as_text else "--text"
    if runs > 1:
        raise S2SError(f"{what} shows one run: compare runs with --output FILE.html")
    if nbest > 1:
        raise S2SError(f"{what} shows the best translation: see the --nbest hypotheses with --output FILE.html")
    if align is not None:
        raise S2SError(f"{what} cannot draw gold links: use --output FILE.html with --align")
    if len(lines) > 1 and (not as_text or out is not None):
        raise S2SError(f"a picture shows one sentence, not {len(lines)}: use --output FILE.html (or --text alone)")


def _attend_picture(translator, lines: list[str], out: Optional[Path], prints: tuple[bool, bool], picture: _Picture,
                    beam: Optional[int], explain: _Explain) -> None:
    """The best translation of each sentence as a picture (one sentence), coloured tables or JSON records."""
    from seq2seq_cli.decoding.lines import translate_lines

    translator = with_prefix(translator.with_decoding(beam_size=beam, n_best=1), explain.prefix)
    outputs = translate_lines(translator, lines, warn, len(lines) > 1)
    for line, candidates in zip(lines, outputs):
        translation = candidates[0]
        if explain.method is not None:
            translation = translator.explain([translation], explain.method, explain.steps, note=warn)[0]
        _show(line, translation, out, prints, picture)
    if out is not None:
        stderr().print(f"wrote {out}")


def _show(line: str, translation, out: Optional[Path], prints: tuple[bool, bool], picture: _Picture) -> None:
    """One translation: drawn to ``out``, then its text and tables (--text) or one JSON record (--json)."""
    from seq2seq_cli.viz.plot import attention_table, chosen_map, plot_translation

    as_text, as_json = prints
    shown = translation if picture.pieces else translation.by_words()
    if as_json:
        import json

        from seq2seq_cli.decoding.lines import json_record

        return typer.echo(json.dumps(json_record(line, [shown]), ensure_ascii=False))
    if picture.members:
        return _show_members(translation, shown, out, as_text, picture)
    if out is not None and translation.attribution is not None:
        from seq2seq_cli.viz.explained import plot_explained

        plot_explained(translation, out, picture.layer, picture.head, picture.pieces)
    elif out is not None:
        plot_translation(translation, out, picture.style, picture.layer, picture.head, picture.grid, picture.pieces)
    typer.echo(translation.text)
    if as_text:
        weights, title = chosen_map(shown, picture.layer, picture.head)
        stdout().print(attention_table(shown.source, shown.steps, weights, title or "attention"))
        if shown.attribution is not None:
            from seq2seq_cli.viz.explained import attribution_table, method_title

            title = f"attribution: {method_title(shown.attribution)}"
            stdout().print(attribution_table(shown.source, shown.steps, shown.attribution.scores, title))


def _show_members(translation, shown, out: Optional[Path], as_text: bool, picture: _Picture) -> None:
    """An ensemble's translation with each model's attention: side by side in one picture, a table each with --text."""
    from seq2seq_cli.viz.plot import attention_table, plot_members

    if out is not None:
        plot_members(translation, out, picture.members, picture.style, picture.pieces)
    typer.echo(translation.text)
    if as_text:
        for index, name in enumerate(picture.members):
            stdout().print(attention_table(shown.source, shown.steps, shown.attention[:, 0, index], f"attention: {name}"))


def _attend_page(runs_to_show: list, lines: list[str], out: Path, beam: Optional[int], nbest: int, pieces: bool,
                 input_file: Optional[Path], align: Optional[Path], explain: _Explain) -> None:
    """The interactive explorer: every sentence, every run, the n-best, gold links when given; attribution
    beside attention with --attribution, and each sentence's search tree with --beam N (N > 1)."""
    from seq2seq_cli.data.alignments import read_alignments
    from seq2seq_cli.data.corpora import read_pairs
    from seq2seq_cli.viz.explorer import Explaining, translations_document
    from seq2seq_cli.viz.page import write_page

    for shown in runs_to_show:
        shown.translator = with_prefix(shown.translator, explain.prefix)
    pairs = gold = None
    if align is not None:
        data = runs_to_show[0].translator.config.data  # a .jsonl file's sides are the first run's languages
        pairs = read_pairs(input_file, (data.source_lang, data.target_lang))
        gold = read_alignments(align, len(pairs))
        lines = [pair.source for pair in pairs]
    for shown in runs_to_show:  # every sentence must suit every run: one error naming the line, before any work
        _check_lines(shown, lines, numbered=input_file is not None or len(lines) > 1)
    explaining = Explaining(explain.method, explain.steps, warn) if explain.method is not None else None
    document = translations_document(runs_to_show, lines, pieces, pairs, gold, data=input_file or "input",
                                     explaining=explaining, tree=beam is not None and beam > 1)
    write_page(document, out)
    for shown, view in zip(runs_to_show, zip(*(s["views"] for s in document["sentences"]))):
        unknown = sorted({word for v in view for word in v["unknown"]})
        if unknown:
            warn(f"{shown.name}: unknown words read as <unk>: {', '.join(unknown)}")
    size = out.stat().st_size / 1024
    stderr().print(f"wrote {out} ({len(lines)} sentence{'s' * (len(lines) != 1)}, {len(runs_to_show)} run"
                   f"{'s' * (len(runs_to_show) != 1)}, {size:,.0f} KB)")


def _check_lines(shown, lines: list[str], numbered: bool) -> None:
    from seq2seq_cli.decoding.lines import line_tokens
    from seq2seq_cli.errors import DataError

    for number, line in enumerate(lines, 1):
        try:
            line_tokens(shown.translator, line, number, numbered)
        except DataError as exc:
            raise DataError(f"{shown.name}: {exc}") from None


def _attend_over_training(run_dir: Path, out: Path, kind: str) -> None:
    from seq2seq_cli.viz.explorer import training_document

    document = training_document(run_dir, run_dir.name)
    training = document["training"]
    if kind == ".gif":
        from seq2seq_cli.viz.plot import animate_training

        animate_training(training, out)
    else:
        from seq2seq_cli.viz.page import write_page

        write_page(document, out)
    stderr().print(f"wrote {out}: {len(training['probes'])} probe sentences over {len(training['validations'])} validations")
