"""Torch against the exported ONNX graphs (fp32 and int8): the same output? how fast? what BLEU?

    python bench/export.py --run RUN [--data data/multi30k-en-fr] [--threads N] [--no-timing]

RUN must have been exported (``s2s export RUN --format onnx --int8``). For greedy and beam 5 it
translates test2016 with each engine through ``Translator`` (the one search), scores sacreBLEU,
and compares every output with torch's: identical token ids, largest score difference, and for
each differing sentence the torch log-probability gap that decided it. Prints Markdown rows and
writes the figures to ``<run>/onnx/bench.json``. ``--no-timing`` skips the warm-up and reports no speed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from seq2seq_cli.data.corpora import read_pairs  # noqa: E402
from seq2seq_cli.decoding.export import with_engine  # noqa: E402
from seq2seq_cli.decoding.translator import Translator  # noqa: E402
from seq2seq_cli.evaluation import corpus_scores  # noqa: E402
from seq2seq_cli.system import cpu_name  # noqa: E402

ENGINES = ("torch", "onnx", "onnx-int8")


def run_engine(translator: Translator, sources: list[str], references: list[str], timing: bool) -> dict:
    """One engine, one beam: outputs, BLEU and (when timing) sentences/s over the whole test set."""
    if timing:
        translator.translate(sources[:64])  # warm-up: sessions, allocators, thread pools
    start = time.perf_counter()
    translations = translator.translate(sources)
    elapsed = time.perf_counter() - start
    texts = [t.text for t in translations]
    bleu, _, chrf, _ = corpus_scores(texts, references, translator.config.data.lowercase)
    return {
        "bleu": round(bleu, 2), "chrf": round(chrf, 2), "sentences_per_s": round(len(sources) / elapsed, 1) if timing else None,
        "ids": [t.ids for t in translations], "scores": [t.score for t in translations], "texts": texts,
    }


def compare(reference: dict, other: dict) -> dict:
    """How far an engine's outputs are from torch's: identical id sequences and score differences."""
    same = [a == b for a, b in zip(reference["ids"], other["ids"])]
    diffs = [abs(a - b) for a, b, s in zip(reference["scores"], other["scores"], same) if s]
    return {
        "identical": sum(same), "sentences": len(same), "differing": [i for i, s in enumerate(same) if not s][:20],
        "max_score_diff_when_identical": max(diffs) if diffs else None,
    }


@torch.inference_mode()
def decision_gap(translator: Translator, source: str, ids_a: list[int], ids_b: list[int]) -> float:
    """Torch's log-probability gap between the two words where two outputs first part: tiny means a near-tie
    (exact for greedy search; for beam search the final score gap says more)."""
    from seq2seq_cli.data.batches import pad_sources
    from seq2seq_cli.data.text import Vocab

    position = next((i for i, (a, b) in enumerate(zip(ids_a, ids_b)) if a != b), min(len(ids_a), len(ids_b)))
    src, lengths = pad_sources([translator.src_vocab.encode(translator.tokens(source))])
    memory, state = translator.model.encode(src, lengths)
    prev = torch.tensor([[Vocab.SOS] + ids_a[:position]])
    features = translator.model.decoder.features(prev, state, memory)[0][:, -1]  # (1, hidden)
    log_probs = translator.model.decoder.out.log_probs(features)[0]  # (vocab,)
    words = [ids[position] for ids in (ids_a, ids_b) if position < len(ids)]
    return float(abs(log_probs[words[0]] - log_probs[words[-1]])) if len(words) == 2 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "multi30k-en-fr")
    parser.add_argument("--threads", type=int, default=None, help="torch and onnxruntime threads [default: torch's]")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--limit", type=int, default=None, help="only the first N sentences (a quick check)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated, torch first")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    timing = not args.no_timing
    pairs = read_pairs(args.data / "test2016.tsv")[: args.limit]
    sources, references = [p.source for p in pairs], [p.target for p in pairs]
    base = Translator.from_run(args.run)
    results: dict = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__, "rows": []}
    for beam in (1, 5):
        torch_result = None
        for engine in args.engines.split(","):
            translator = with_engine(base.with_decoding(beam_size=beam, n_best=1), args.run, engine)
            result = run_engine(translator, sources, references, timing)
            torch_result = torch_result or result
            row = {"engine": engine, "beam": beam, **{k: result[k] for k in ("bleu", "chrf", "sentences_per_s")},
                   **compare(torch_result, result)}
            if engine == "onnx":  # every fp32 difference, explained by how close torch's own decision was
                pairs_ = [(torch_result["ids"][i], result["ids"][i]) for i in row["differing"]]
                row["word_gaps"] = [decision_gap(base, sources[i], a, b) for i, (a, b) in zip(row["differing"], pairs_)]
                row["score_gaps"] = [abs(torch_result["scores"][i] - result["scores"][i]) for i in row["differing"]]
            results["rows"].append(row)
            speed = f"{row['sentences_per_s']:,.1f}" if timing else "not measured"
            print(f"| {args.run.name} | {engine} | {'greedy' if beam == 1 else f'beam {beam}'} | {row['bleu']:.2f} | "
                  f"{speed} | {row['identical']}/{row['sentences']} |", flush=True)
    name = "bench.json" if timing and args.limit is None else "check.json"
    (args.run / "onnx" / name).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
