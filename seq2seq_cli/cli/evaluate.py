"""``s2s evaluate``: a run scored on a test set (sacreBLEU, chrF, exact match, speed; attention against gold links)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seq2seq_cli.cli.app import app
from seq2seq_cli.cli.common import pick_run, stdout, user_errors, warn, with_decoding, with_engine, write_lines
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


@app.command()
def evaluate(
    data: DataOption = None,
    src: SourceOption = None,
    ref: ReferenceOption = None,
    align: GoldOption = None,
    beam: BeamOption = None,
    length_penalty: LengthPenaltyOption = None,
    output_file: HypothesesOption = None,
    run: RunOption = None,
    runs_dir: RunsDirOption = Path("runs"),
    checkpoint: CheckpointOption = "best.pt",
    lang: LangOption = None,
    engine: EngineOption = Engine.torch,
    device: DeviceOption = Device.cpu,
    batch_size: BatchSizeOption = 64,
    as_json: JsonOption = False,
) -> None:
    """Score a run on a test set: sacreBLEU, chrF, exact match, speed; attention vs gold alignments."""
    with user_errors():
        import json

        from seq2seq_cli.decoding.translator import Translator
        from seq2seq_cli.evaluation import evaluate as score

        test_set, stem = _test_set(data, src, ref)
        run_dir = pick_run(run, runs_dir)
        translator = Translator.from_run(run_dir, checkpoint, device.value).with_batch_size(batch_size)
        translator = with_engine(with_decoding(translator, beam, length_penalty), run_dir, engine.value, checkpoint)
        report, hypotheses = score(translator, test_set, align, lang)
        report.decode["engine"] = engine.value
        name = stem if engine is Engine.torch else f"{stem}.{engine.value}"  # one engine's scores never overwrite another's
        output_file = output_file or run_dir / f"{name}.hyp.txt"
        write_lines(hypotheses, output_file)
        write_lines([json.dumps(report.as_dict(), indent=2)], run_dir / f"{name}.eval.json")
        if as_json:
            return write_lines([json.dumps({**report.as_dict(), "hypotheses_file": str(output_file)})], None)
        _print_report(report, data or src, output_file)


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


def _print_report(report, data: Path, hypotheses_file: Path) -> None:
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
    console.print(f"BLEU signature: {report.bleu_signature}\nchrF signature: {report.chrf_signature}")
    if report.wmt_signature:
        console.print(f"WMT-recipe BLEU signature: {report.wmt_signature}")
    console.print(f"hypotheses: {hypotheses_file}")
