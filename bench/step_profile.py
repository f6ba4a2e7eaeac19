"""Where a float32 training step of the reference GRU goes, part by part, on this CPU.

    python bench/step_profile.py --data data/multi30k-en-fr [--batches 30] [--rounds 5]

Issue 18 asks for float32 training at >= 50% of the float32 matmul peak. bench/run.py gives the
whole step's share and its busiest operators; this splits the step into the model's parts
(encoder, attention keys, decoder GRU, attention, combine, output layer and loss, clipping and
Adam), times each one's forward and backward on the same real Multi30k batches, and gives each
its FLOPs and its own share of the peak. The parts take turns, a round at a time in rotating
order, and the peak is sampled in every round: a shared VM's speed drifts by tens of percent
within minutes, and only figures from the same moment can be compared. Medians over rounds.

Writes bench/PROFILE-<cpu>.md (one file per CPU kind) and prints it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from run import CONFIG, cpu_slug, machine, matmul_peak_gflops, variant_overrides  # noqa: E402

from seq2seq_cli.config import load_config  # noqa: E402
from seq2seq_cli.data.batches import Batch, bucketed_batches, collate  # noqa: E402
from seq2seq_cli.data.prepare import prepare_data  # noqa: E402
from seq2seq_cli.data.text import Vocab  # noqa: E402
from seq2seq_cli.models.recurrence import gru  # noqa: E402
from seq2seq_cli.models.seq2seq import Seq2Seq, build_model  # noqa: E402
from seq2seq_cli.training.adam import Adam  # noqa: E402
from seq2seq_cli.training.validation import batch_loss  # noqa: E402


@dataclass
class Case:
    """One batch, and every part's inputs as the whole forward pass makes them (detached)."""

    batch: Batch
    states: torch.Tensor  # (batch, src_len, hidden): encoder outputs, the attention's values
    keys: torch.Tensor  # (batch, src_len, hidden)
    mask: torch.Tensor  # (batch, src_len)
    first_state: torch.Tensor  # (layers, batch, hidden): the decoder's first state
    outputs: torch.Tensor  # (batch, tgt_len, hidden): decoder GRU outputs, the attention's queries
    embedded: torch.Tensor  # (batch, tgt_len, embed)
    context: torch.Tensor  # (batch, tgt_len, hidden)
    features: torch.Tensor  # (tokens, hidden): what the output layer sees, real positions only
    targets: torch.Tensor  # (tokens,)


@torch.no_grad()
def make_case(model: Seq2Seq, batch: Batch) -> Case:
    decoder = model.decoder
    memory, first_state = model.encode(batch.src, batch.src_lengths)
    embedded = decoder.embedding(batch.tgt_in)
    outputs, _ = decoder.rnn(embedded, first_state)
    context, _ = decoder.attention(outputs, memory.keys, memory.values, memory.mask, embedded)
    attentional = torch.tanh(decoder.combine(torch.cat([outputs, context], dim=-1)))
    real = batch.tgt_out != Vocab.PAD
    return Case(batch, memory.values, memory.keys, memory.mask, first_state, outputs, embedded, context,
                attentional[real], batch.tgt_out[real])


def leaf(tensor: torch.Tensor) -> torch.Tensor:
    """A part's input as a fresh leaf that wants a gradient, so backward stops at the part's edge."""
    return tensor.detach().clone().requires_grad_(True)


def backward_from(*outputs: torch.Tensor) -> None:
    """Backward with gradients of ones: no extra sum in the part's time."""
    torch.autograd.backward(outputs, [torch.ones_like(o) for o in outputs])


WHOLE = "whole training step"


def parts(model: Seq2Seq, optimizer: Adam, clip: float) -> dict[str, Callable[[Case], None]]:
    """Each part of a training step as forward + backward on one case, in the model's order."""
    encoder, decoder = model.encoder, model.decoder

    def encoder_part(c: Case) -> None:
        backward_from(*encoder(c.batch.src, c.batch.src_lengths))

    def keys_part(c: Case) -> None:
        backward_from(decoder.project_memory(leaf(c.states)))

    def decoder_gru_part(c: Case) -> None:
        embedded = decoder.dropout(decoder.embedding(c.batch.tgt_in))
        backward_from(gru(decoder.rnn, embedded, leaf(c.first_state))[0])

    def attention_part(c: Case) -> None:
        backward_from(decoder.attention(leaf(c.outputs), leaf(c.keys), leaf(c.states), c.mask, c.embedded)[0])

    def combine_part(c: Case) -> None:
        backward_from(decoder.dropout(torch.tanh(decoder.combine(torch.cat([leaf(c.outputs), leaf(c.context)], -1)))))

    def output_part(c: Case) -> None:
        decoder.out.summed_nll(leaf(c.features), c.targets).backward()

    def optimizer_part(c: Case) -> None:  # on the (zeroed) gradients the other parts left: the same work
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()

    def whole_step(c: Case) -> None:
        loss, n_tokens = batch_loss(model, c.batch)
        optimizer.zero_grad(set_to_none=True)
        (loss / n_tokens).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()

    return {
        "encoder: embedding, bidirectional GRU, merge, bridge": encoder_part,
        "attention keys (once per batch)": keys_part,
        "decoder: embedding, GRU": decoder_gru_part,
        "Bahdanau attention: scores, softmax, context": attention_part,
        "combine: tanh(W [output; context]), dropout": combine_part,
        "output layer and loss": output_part,
        "clipping and Adam": optimizer_part,
        WHOLE: whole_step,
    }



def count_flops(part: Callable[[Case], None], cases: list[Case]) -> float:
    """Matrix-product FLOPs per batch, as torch's FlopCounterMode (and bench/run.py) counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        for case in cases:
            part(case)
    return counter.get_total_flops() / len(cases)


def profile_variant(label: str, data_dir: Path, n_batches: int, rounds: int) -> dict:
    """Per part: seconds per batch and % of the peak sampled in the same round (medians), GFLOP per batch."""
    config = load_config(CONFIG, variant_overrides(data_dir, label))
    data = prepare_data(config)
    torch.manual_seed(0)
    model = build_model(config.model, len(data.src_vocab), len(data.tgt_vocab), config.data.max_len).train()
    optimizer = Adam(model.parameters(), lr=config.train.lr)
    batches = bucketed_batches(data.train, config.train.batch_size, random.Random(0), config.train.batch_tokens)
    cases = [make_case(model, collate([data.train[i] for i in ids])) for ids in batches[:n_batches]]
    steps = parts(model, optimizer, config.train.clip_grad)
    flops = {name: count_flops(part, cases) for name, part in steps.items()}  # the very batches timed
    times: dict[str, list[float]] = {name: [] for name in steps}
    shares: dict[str, list[float]] = {name: [] for name in steps}
    peaks = []
    names = list(steps)
    for round_ in range(rounds):
        peak = matmul_peak_gflops(torch.get_num_threads(), repeats=5)
        peaks.append(peak)
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:  # rotating order
            part = steps[name]
            for case in cases[:2]:  # warm-up
                part(case)
            start = time.perf_counter()
            for case in cases:
                part(case)
            seconds = (time.perf_counter() - start) / len(cases)
            model.zero_grad(set_to_none=False)  # every parameter keeps a gradient: the optimizer part's work
            times[name].append(seconds)
            shares[name].append(flops[name] / seconds / 1e9 / peak)
    tokens = sum(len(c.targets) for c in cases) / len(cases)
    return {"times": {n: statistics.median(t) for n, t in times.items()},
            "peak_share": {n: statistics.median(s) for n, s in shares.items()},
            "flops": flops, "peaks": peaks, "tokens": tokens}


def render(results: dict[str, dict], n_batches: int, rounds: int) -> str:
    lines = [
        f"# Where a float32 training step goes: {machine().split(';')[0]}",
        "",
        f"Written by `python bench/step_profile.py` on {time.strftime('%Y-%m-%d')}. {machine()}.",
        f"Model: `configs/multi30k-en-fr.yaml`, float32 training, {n_batches} Multi30k training batches (bucketed, "
        f"batch 64); each part's forward and backward timed over them, the parts taking turns, {rounds} rounds, medians.",
        "A part's *% of peak* is its matrix-product FLOPs (torch's FlopCounterMode) over its time, against the float32",
        "`torch.mm` peak sampled in the same round; its *share* is of the parts' sum. Parts timed alone add up to more",
        "than the whole step (each pays its own autograd set-up and starts with colder caches), so the shares say where",
        "time goes and the whole step's own line says how fast it is. Issue 18's target: the whole step at >= 50% of the peak.",
    ]
    for label, r in results.items():
        whole = r["times"][WHOLE]
        parts_sum = sum(t for n, t in r["times"].items() if n != WHOLE)
        peaks = r["peaks"]
        lines += [
            "",
            f"## {label} ({r['tokens']:,.0f} target tokens a batch; float32 peak {statistics.median(peaks):,.0f} "
            f"GFLOP/s, sampled {min(peaks):,.0f}–{max(peaks):,.0f})",
            "",
            "| part | ms a batch | share | GFLOP a batch | % of peak |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name, seconds in r["times"].items():
            if name == WHOLE:
                continue
            lines.append(f"| {name} | {seconds * 1e3:.1f} | {seconds / parts_sum:.0%} | {r['flops'][name] / 1e9:.2f} | "
                         f"{r['peak_share'][name]:.0%} |")
        lines.append(f"| **{WHOLE}** (parts alone: {parts_sum * 1e3:.1f}) | **{whole * 1e3:.1f}** | | "
                     f"{r['flops'][WHOLE] / 1e9:.2f} | "
                     f"**{r['peak_share'][WHOLE]:.0%}** |")
    return "\n".join(lines) + "\n"


def main() -> None:
    from run import VARIANTS

    parser = argparse.ArgumentParser(description="where a float32 training step of the reference GRU goes")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "multi30k-en-fr")
    parser.add_argument("--variants", default="full softmax,adaptive softmax", help="comma-separated, as bench/run.py")
    parser.add_argument("--batches", type=int, default=30, help="batches each part is timed over, a round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    labels = [label.strip() for label in args.variants.split(",") if label.strip()]
    if unknown := [label for label in labels if label not in VARIANTS or "bf16" in label]:
        parser.error(f"unknown or non-float32 variant(s) {unknown}; choose from {[v for v in VARIANTS if 'bf16' not in v]}")
    if args.batches < 3 or args.rounds < 1:
        parser.error("--batches must be at least 3 and --rounds at least 1")
    results = {label: profile_variant(label, args.data.resolve(), args.batches, args.rounds) for label in labels}
    report = ROOT / "bench" / f"PROFILE-{cpu_slug()}.md"
    report.write_text(render(results, args.batches, args.rounds), encoding="utf-8")
    print(report.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
