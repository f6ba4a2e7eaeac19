"""``s2s evaluate``: a run scored on a test set (sacreBLEU, chrF, exact match, speed; attention against gold links)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seq2seq_cli.cli.app import app
from seq2seq_cli.cli.common import stdout, user_errors, warn, with_decoding, with_engine, write_lines
from seq2seq_cli.cli.options import BeamOption, CheckpointOption, EngineOption, LengthPenaltyOption, RunOption, RunsDirOption

DataOption = Annotated[Path, typer.Option("--data", "-d", help="Source/reference pairs: TSV or JSON Lines (.jsonl), maybe .gz.")]
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
    data: DataOption,
    align: GoldOption = None,
    beam: BeamOption = None,
    length_penalty: LengthPenaltyOption = None,
    output_file: HypothesesOption = None,
    run: RunOption = None,
    runs_dir: RunsDirOption = Path("runs"),
    checkpoint: CheckpointOption = "best.pt",
    lang: LangOption = None,
    engine: EngineOption = "torch",
) -> None:
    """Score a run on a test set: sacreBLEU, chrF, exact match, speed; attention vs gold alignments."""
    with user_errors():
        import json

        from seq2seq_cli.decoding.translator import Translator
        from seq2seq_cli.evaluation import evaluate as score
        from seq2seq_cli.runs import find_run

        run_dir = find_run(run, runs_dir)
        translator = with_decoding(Translator.from_run(run_dir, checkpoint), beam, length_penalty)
        translator = with_engine(translator, run_dir, engine, checkpoint)
        report, hypotheses = score(translator, data, align, lang)
        report.decode["engine"] = engine
        name = data.stem if engine == "torch" else f"{data.stem}.{engine}"  # one engine's scores never overwrite another's
        output_file = output_file or run_dir / f"{name}.hyp.txt"
        write_lines(hypotheses, output_file)
        write_lines([json.dumps(report.as_dict(), indent=2)], run_dir / f"{name}.eval.json")
        _print_report(report, data, output_file)


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
