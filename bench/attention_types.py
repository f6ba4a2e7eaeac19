"""What each attention type learns: train configs/default.yaml once per type and score it.

    python bench/attention_types.py [--config configs/default.yaml] [--epochs N]

Writes bench/ATTENTION.md: training time, test exact match, token accuracy, BLEU and how often
the most-attended source word is the gold-aligned one (and the AER), per attention type.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console

from seq2seq_cli.config import load_config
from seq2seq_cli.decoding.translator import Translator
from seq2seq_cli.evaluation import evaluate
from seq2seq_cli.training.trainer import train

TYPES = ["bahdanau", "luong-dot", "luong-general", "location"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--test", default="data/en-fr/test.tsv")
    parser.add_argument("--align", default="data/en-fr/test.align")
    parser.add_argument("--out", default="bench/ATTENTION.md")
    parser.add_argument("--set", action="append", default=[], help="extra config overrides")
    args = parser.parse_args()
    console = Console(stderr=True, soft_wrap=True)
    rows = []
    with tempfile.TemporaryDirectory() as runs_dir:
        for kind in TYPES:
            config = load_config(
                args.config, [*args.set, f"model.attention={kind}", f"train.runs_dir={runs_dir}", "decode.beam_size=1"]
            )
            start = time.perf_counter()
            run_dir = train(config, kind, console)
            seconds = time.perf_counter() - start
            report, _ = evaluate(Translator.from_run(run_dir), args.test, args.align)
            rows.append((kind, seconds, report))
            console.print(f"{kind}: {report}")
    table = _markdown(rows, args)
    Path(args.out).write_text(table, encoding="utf-8")
    print(table)


def _markdown(rows, args) -> str:
    lines = [
        f"Each attention type trained with `{args.config}` ({' '.join(args.set) or 'no overrides'}), "
        f"scored on `{args.test}` with greedy decoding; alignment against `{args.align}`.",
        "",
        "| attention | train time | exact match | token accuracy | BLEU | top-attended word is gold | AER |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, seconds, r in rows:
        lines.append(
            f"| {kind} | {seconds:.0f} s | {100 * r.exact_match:.1f}% | {100 * r.token_accuracy:.1f}% | {r.bleu:.1f} "
            f"| {100 * r.alignment_agreement:.1f}% | {100 * r.aer:.1f}% |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
