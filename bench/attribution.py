"""How long attribution and a forced-word re-decode take for one 20-word sentence.

    python bench/attribution.py [--repeats 7] [--out bench/ATTRIBUTION.md]

Models: the reference GRU (configs/multi30k-en-fr.yaml: bidirectional GRU 256, Bahdanau
attention, 10,000 words a side) and the Transformer (configs/multi30k-en-fr-transformer.yaml),
built at their full size with seeded random weights: time depends on the shapes, not on what
the weights learnt, and no Multi30k data is needed. A 20-token source, a 21-token output (20
words and ``<eos>``). Each figure is the median of ``--repeats`` runs after one warm-up, on the
CPU in eval mode, in this process alone (never time beside a training run).

Targets (issue 31): grad <= 0.2 s, ig-32 <= 2 s, a forced-word re-decode <= 0.3 s. The
re-decode is the served page's: search forced through the first 10 words, then free, capped at
21 steps; greedy and beam 5.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch

from seq2seq_cli.config import load_config
from seq2seq_cli.decoding.attribution import Attributor
from seq2seq_cli.decoding.search import search
from seq2seq_cli.models.seq2seq import build_model

MODELS = {"reference GRU": "configs/multi30k-en-fr.yaml", "Transformer": "configs/multi30k-en-fr-transformer.yaml"}
VOCAB = 10_000  # words (GRU) or BPE pieces (Transformer) a side: the configs' sizes
SOURCE_LEN, OUTPUT_LEN = 20, 21
TARGETS = {"grad": 0.2, "ig-32": 2.0, "re-decode, greedy": 0.3, "re-decode, beam 5": 0.3}


def cpu_name() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def median_seconds(work, repeats: int) -> float:
    work()  # warm-up: first-call allocations and captum's imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(config_path: str, repeats: int) -> dict[str, float]:
    config = load_config(config_path, [])
    torch.manual_seed(0)
    model = build_model(config.model, VOCAB, VOCAB, config.data.max_len).eval()
    generator = torch.Generator().manual_seed(1)
    source = torch.randint(4, VOCAB, (SOURCE_LEN,), generator=generator).tolist()
    output = torch.randint(4, VOCAB, (OUTPUT_LEN - 1,), generator=generator).tolist() + [2]  # ends in <eos>
    figures = {}
    for label, method, steps in (("grad", "grad", 32), ("ig-32", "ig", 32), ("occlusion", "occlusion", 32)):
        attributor = Attributor(model, method, steps)
        figures[label] = median_seconds(lambda a=attributor: a.attribute(source, output), repeats)
    src, lengths, limits = torch.tensor([source]), torch.tensor([SOURCE_LEN]), torch.tensor([OUTPUT_LEN])
    prefix = [output[:10]]
    for label, beam in (("re-decode, greedy", 1), ("re-decode, beam 5", 5)):
        figures[label] = median_seconds(lambda k=beam: search(model, src, lengths, limits, k, 0.6, 1, prefix), repeats)
    return figures


def report(results: dict[str, dict[str, float]], cpu: str, repeats: int) -> str:
    labels = list(next(iter(results.values())))
    lines = [
        "# Attribution and re-decode time per 20-word sentence",
        "",
        f"CPU: **{cpu}**, {torch.get_num_threads()} threads; torch {torch.__version__}. "
        f"Median of {repeats} runs after a warm-up. Made by `python bench/attribution.py`.",
        "",
        "| | " + " | ".join(results) + " | target |",
        "| --- | " + " | ".join("---:" for _ in results) + " | ---: |",
    ]
    for label in labels:
        target = TARGETS.get(label)
        cells = [f"{results[name][label]:.3f} s" for name in results]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {f'≤ {target} s' if target else ''} |")
    lines += ["", "Targets missed, by how much:", ""]
    missed = [f"- {name}, {label}: {figures[label]:.3f} s, {figures[label] / TARGETS[label]:.1f}× the {TARGETS[label]} s target"
              for name, figures in results.items() for label in TARGETS if figures[label] > TARGETS[label]]
    lines += missed or ["- none."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default="bench/ATTRIBUTION.md")
    args = parser.parse_args()
    results = {name: measure(path, args.repeats) for name, path in MODELS.items()}
    text = report(results, cpu_name(), args.repeats)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
