"""``s2s evaluate``: a run scored on a test set (sacreBLEU, chrF, exact match, speed; attention, attribution vs gold links)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seq2seq_cli.cli.app import app
from seq2seq_cli.cli.common import open_translator, stdout, user_errors, warn, with_decoding, with_engine, write_lines
from seq2seq_cli.cli.options import (
    AttributionOption,
    BatchSizeOption,
    BeamOption,
    CheckpointOption,
    Device,
    DeviceOption,
    Engine,
    EngineOption,
    EnsembleOption,
    IgStepsOption,
    LengthPenaltyOption,
    Method,
    RunOption,
    RunsDirOption,
)
from seq2seq_cli.errors import S2SError

DataOption = Annotated[
    Optional[Path], typer.Option("--data", "-d", help="Source/reference pairs: TSV or JSON Lines (.jsonl), maybe .gz.")
]
SourceOption = Annotated[Optional[Path], typer.Option("--src", help="Parallel files: the sources, one a line (with --ref).")]
ReferenceOption = Annotated[
    Optional[Path], typer.Option("--ref", help="Parallel files: the references, line for line with --src.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the scores as one JSON object (for scripts), not a table.")]
GoldOption = Annotated[
    Optional[Path], typer.Option("--align", help="Gold word alignments (Pharaoh, one line a pair): score the attention too.")
]
HypothesesOption = Annotated[
    Optional[Path], typer.Option("--output", "-o", help="Hypotheses file. [default: <run>/<data name>.hyp.txt]")
]
LangOption = Annotated[
    Optional[str],
    typer.Option("--lang", help="The references' language, for the WMT-recipe BLEU's Moses tokeniser. "
                 "[default: the run's data.target_lang, else en]"),
]

LimitOption = Annotated[
    Optional[int],
    typer.Option("--limit", min=1, help="Score only the test set's first N pairs: every figure (BLEU too), "
                 "written as <data name>.firstN.* so the whole set's scores stay."),
]


@app.command()
def evaluate(
    data: DataOption = None,
    src: SourceOption = None,
    ref: ReferenceOption = None,
    align: GoldOption = None,
    attribution: AttributionOption = None,
    ig_steps: IgStepsOption = None,
    limit: LimitOption = None,
    beam: BeamOption = None,
    length_penalty: LengthPenaltyOption = None,
    output_file: HypothesesOption = None,
    run: RunOption = None,
    runs_dir: RunsDirOption = Path("runs"),
    checkpoint: CheckpointOption = None,
    lang: LangOption = None,
    engine: EngineOption = Engine.torch,
    device: DeviceOption = Device.cpu,
    batch_size: BatchSizeOption = 64,
    as_json: JsonOption = False,
    ensemble: EnsembleOption = None,
) -> None:
    """Score a run on a test set: sacreBLEU, chrF, exact match, speed; attention vs gold alignments.

    With [bold]--attribution[/], also the alignment read from attribution (each reference word to its top source
    word): its AER beside attention's with --align, and how often the two pick the same source word."""
    with user_errors():
        import json

        from seq2seq_cli.evaluation import evaluate as score
        from seq2seq_cli.runs import default_checkpoint

        steps = _ig_steps(attribution, ig_steps)
        test_set, stem = _test_set(data, src, ref)
        stem = stem if limit is None else f"{stem}.first{limit}"  # a part's scores never overwrite the whole set's
        translator, run_dir = open_translator(run, runs_dir, checkpoint, device.value, ensemble)
        translator = with_decoding(translator.with_batch_size(batch_size), beam, length_penalty)
        translator = with_engine(translator, run_dir, engine.value, checkpoint, ensemble)
        method = attribution.value if attribution is not None else None
        report, hypotheses = score(translator, test_set, align, lang, attribution=method, ig_steps=steps, limit=limit)
        report.decode["engine"] = engine.value
        report.decode["weights"] = ensemble or [checkpoint or default_checkpoint(run_dir)]  # which model scored
        _warn_about_partial_figures(ensemble, attribution, align)
        name = stem if engine is Engine.torch else f"{stem}.{engine.value}"  # one engine's scores never overwrite another's
        name = f"{name}.ensemble{len(ensemble)}" if ensemble else name
        output_file = output_file or run_dir / f"{name}.hyp.txt"
        write_lines(hypotheses, output_file)
        write_lines([json.dumps(report.as_dict(), indent=2)], run_dir / f"{name}.eval.json")
        if as_json:
            return write_lines([json.dumps({**report.as_dict(), "hypotheses_file": str(output_file)})], None)
        _print_report(report, data or src, output_file, method)


def _warn_about_partial_figures(ensemble: Optional[list[str]], attribution: Optional[Method], align: Optional[Path]) -> None:
    """Figures that cover less than the command line suggests, each in one line."""
    if ensemble and len(ensemble) > 1:
        warn("--ensemble: BLEU and chrF score the ensemble; token accuracy, --align and --attribution read its first member")
    if attribution is not None and align is None:
        warn("--attribution without --align: no gold links, so no AER; only how often attribution and attention agree")


def _ig_steps(method: Optional[Method], steps: Optional[int]) -> int:
    """Integrated gradients' steps; --ig-steps with another method (or none) would do nothing: an error."""
    if steps is not None and method is not Method.ig:
        raise S2SError("--ig-steps sets integrated gradients' path: it needs --attribution ig")
    return steps or 32


def _test_set(data: Optional[Path], src: Optional[Path], ref: Optional[Path]):
    """One pair file (--data) or parallel files (--src and --ref), and the name its outputs take."""
    from seq2seq_cli.config import ParallelFiles

    if data is not None and (src is not None or ref is not None):
        raise S2SError("give --data PAIRS or --src and --ref, not both")
    if data is not None:
        return data, data.stem
    if src is None or ref is None:
        raise S2SError("give the test set: --data PAIRS (TSV or .jsonl), or --src SOURCES --ref REFERENCES")
    return ParallelFiles(str(src), str(ref)), Path(src.name.removesuffix(".gz")).stem


def _print_report(report, data: Path, hypotheses_file: Path, method: Optional[str]) -> None:
    from rich.table import Table

    from seq2seq_cli.evaluation import WMT_INSTALL

    table = Table(title=f"{data}: {report.sentences} sentences, beam {report.decode['beam_size']}", show_header=False)
    table.add_row("BLEU", f"{report.bleu:.2f}")
    if report.wmt_bleu is not None:
        table.add_row("BLEU, WMT recipe", f"{report.wmt_bleu:.2f}")
    else:
        warn(f"BLEU by the WMT recipe (lowercased, Moses-tokenised) needs sacremoses: {WMT_INSTALL}")
    table.add_row("chrF", f"{report.chrf:.2f}")
    table.add_row("exact match", f"{100 * report.exact_match:.1f}%")
    table.add_row("token accuracy (teacher-forced)", f"{100 * report.token_accuracy:.1f}%")
    table.add_row("speed", f"{report.sentences_per_s:,.1f} sentences/s")
    if report.alignment_agreement is not None:
        table.add_row("top-attended source word is gold", f"{100 * report.alignment_agreement:.1f}%")
        table.add_row("alignment error rate (AER)", f"{100 * report.aer:.1f}%")
    console = stdout()
    console.print(table)
    if method is not None:
        console.print(_alignment_table(report.alignment, method))
    console.print(f"BLEU signature: {report.bleu_signature}\nchrF signature: {report.chrf_signature}")
    if report.wmt_signature:
        console.print(f"WMT-recipe BLEU signature: {report.wmt_signature}")
    console.print(f"hypotheses: {hypotheses_file}")


def _alignment_table(alignment: dict, method: str):
    """One row per reader of the alignment (attention, then the attribution method), named."""
    from rich.table import Table

    from seq2seq_cli.viz.explained import METHOD_NAMES

    table = Table(title="word alignment: each reference word linked to its top source word")
    table.add_column("read from", no_wrap=True)
    for column in ("top word is gold", "AER", "top word = attention's"):
        table.add_column(column, justify="right")
    same = f"{100 * alignment['top_word_agreement']:.1f}%"
    for label, gold, agreement in (("attention", alignment.get("attention"), ""),
                                   (f"attribution: {METHOD_NAMES[method]}", alignment.get(method), same)):
        cells = [f"{100 * gold['agreement_with_gold']:.1f}%", f"{100 * gold['aer']:.1f}%"] if gold else ["-", "-"]
        table.add_row(label, *cells, agreement)
    if "ig_delta" in alignment:
        delta = alignment["ig_delta"]
        table.caption = f"integrated gradients: largest convergence delta {delta:.2g} (0: exact; more --ig-steps, smaller)"
    return table
