"""What label smoothing costs the adaptive softmax (issue 32 part 4), against the full softmax.

    python bench/adaptive_smoothing.py [--repeats 30] [--out bench/ADAPTIVE_SMOOTHING.md]

The output layer alone, forward and backward of the summed training loss, at the size of
configs/multi30k-en-fr-best.yaml (hidden 256, 10,000 target words, clusters from ranks 2,000 and
6,000) on one batch's real target tokens (64 sentences of about 14 words: 900 tokens), targets
drawn from a Zipf law as Multi30k's words fall. Median of ``--repeats`` turns, the four layers
timed in alternation so that a slower minute of a shared machine hits them all alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from attribution import cpu_name  # noqa: E402

from seq2seq_cli.models.output import build_output_layer  # noqa: E402

HIDDEN, VOCAB, CUTOFFS, TOKENS = 256, 10_000, [2000, 6000], 900


def zipf_targets(count: int, vocab: int, generator: torch.Generator) -> torch.Tensor:
    """Word ranks as natural text draws them: rank r with probability proportional to 1 / (r + 1)."""
    weights = 1.0 / torch.arange(1, vocab + 1, dtype=torch.float64)
    return torch.multinomial(weights, count, replacement=True, generator=generator)


def one_turn(layer, features: torch.Tensor, targets: torch.Tensor, smoothing: float) -> float:
    """Seconds for the loss and its gradients, once."""
    layer.zero_grad(set_to_none=True)
    x = features.detach().requires_grad_()
    start = time.perf_counter()
    layer.summed_nll(x, targets, smoothing).backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "ADAPTIVE_SMOOTHING.md")
    args = parser.parse_args()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    features, targets = torch.randn(TOKENS, HIDDEN), zipf_targets(TOKENS, VOCAB, generator)
    variants = {  # name: (layer kind, label smoothing)
        "full softmax": ("softmax", 0.0), "full softmax, smoothing 0.1": ("softmax", 0.1),
        "adaptive": ("adaptive", 0.0), "adaptive, smoothing 0.1": ("adaptive", 0.1),
    }
    layers = {name: build_output_layer(kind, HIDDEN, VOCAB, CUTOFFS).train() for name, (kind, _) in variants.items()}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for turn in range(args.repeats + 3):  # three turns to warm up, not counted
        for name, (_, smoothing) in variants.items():
            seconds = one_turn(layers[name], features, targets, smoothing)
            if turn >= 3:
                times[name].append(seconds)
    medians = {name: statistics.median(values) for name, values in times.items()}
    write_report(args.out, medians, args.repeats)


def write_report(out: Path, medians: dict[str, float], repeats: int) -> None:
    cpu, base = cpu_name(), medians["adaptive"]
    lines = [
        "# Label smoothing with the adaptive softmax: what it costs",
        "",
        f"Made by `python bench/adaptive_smoothing.py --repeats {repeats}` on the **{cpu}** "
        f"({torch.get_num_threads()} threads, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}). "
        f"The output layer alone, loss forward and backward, {TOKENS} target tokens (one batch of the best recipe), "
        f"hidden {HIDDEN}, {VOCAB:,} words, adaptive clusters from ranks {CUTOFFS[0]:,} and {CUTOFFS[1]:,}; "
        f"median of {repeats} turns, the four timed in alternation.",
        "",
        "| output layer | ms per batch | × adaptive without smoothing |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {seconds * 1000:.2f} | {seconds / base:.2f} |" for name, seconds in medians.items()),
        "",
        "Smoothing spreads its share over every word of the vocabulary, as the full softmax's does "
        "(`tests/test_regularisers.py` pins the loss and its gradients to that definition), so with it "
        "every cluster is computed for every token, where the unsmoothed adaptive loss computes a "
        "rare-word cluster only for the tokens that fall in it.",
    ]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[6:6 + 2 + len(medians)]))


if __name__ == "__main__":
    main()
