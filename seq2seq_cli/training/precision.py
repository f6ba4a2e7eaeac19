"""``train.precision: auto``: bfloat16 only where it pays, float32 everywhere else.

bf16 autocast is worth its casts only on matrix units that multiply bf16 natively (Intel AMX):
on a CPU without them bf16 products are emulated, several times slower than float32 (``s2s
doctor`` measures both), and even with them training was measured *slower* in bf16 on the paths
a GRU takes (issue 18). So ``auto`` means: float32 unless the CPU has AMX, and there, whichever
of the two a few real training steps of this very model measure faster. The choice is written
into the run's ``config.yaml``, so ``--resume`` continues in the same precision without measuring.
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
from rich.console import Console

from seq2seq_cli.config import Config
from seq2seq_cli.data.batches import Batch
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.system import Context, has_amx

STEPS = 4  # timed training steps per precision, after one untimed warm-up
FASTER = 1.1  # bf16 is chosen only when it is at least this much faster: it also costs memory and exactness
AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(config: Config, model: torch.nn.Module, vocab_sizes: tuple[int, int], context: Context,
                      console: Console) -> str:
    """The precision to train in: ``train.precision`` itself, or what ``auto`` decides here (said in the log)."""
    if config.train.precision != "auto":
        return config.train.precision
    choice, why = context.from_main(_decide(config, model, vocab_sizes, context.device) if context.is_main else None)
    console.print(f"train.precision auto -> {choice}: {why}", markup=False)
    return choice


def answer_without_measuring(device_type: str, amx: bool) -> tuple[str, str] | None:
    """``auto``'s choice and why, where it needs no measurement; None on a CPU with AMX (there it measures).
    ``s2s doctor`` reports the same rule."""
    if device_type != "cpu":
        return "fp32", (f"auto measures bf16 on CPUs with AMX only; on {device_type} set train.precision: bf16 to use it "
                        "(on an H200 it trained these small models slower than float32, bench/GPU.md)")
    if not amx:
        return "fp32", "this CPU has no bf16 matrix units (AMX), where bf16 is emulated and slower"
    return None


def _decide(config: Config, model: torch.nn.Module, vocab_sizes: tuple[int, int], device: torch.device) -> tuple[str, str]:
    if answer := answer_without_measuring(device.type, has_amx()):
        return answer
    fp32, bf16 = (seconds_per_step(config, model, vocab_sizes, device, p) for p in ("fp32", "bf16"))
    speed = f"a training step took {1000 * fp32:.0f} ms in float32 and {1000 * bf16:.0f} ms in bf16 on AMX"
    return ("bf16", speed) if fp32 / bf16 >= FASTER else ("fp32", speed)


def seconds_per_step(config: Config, model: torch.nn.Module, vocab_sizes: tuple[int, int], device: torch.device,
                     precision: str) -> float:
    """The median time of forward and backward on a batch shaped like training's, on a copy of the model.

    The copy and the restored RNG state leave training exactly as it would have been without measuring.
    """
    from seq2seq_cli.training.validation import batch_loss

    trial = copy.deepcopy(model).to(device).train()
    batch = synthetic_batch(config, vocab_sizes, device)
    dtype = AUTOCAST[precision]
    rng = torch.get_rng_state()
    times = []
    try:
        for _ in range(1 + STEPS):
            start = time.perf_counter()
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss, _ = batch_loss(trial, batch)
            loss.backward()
            times.append(time.perf_counter() - start)
    finally:
        torch.set_rng_state(rng)
    return statistics.median(times[1:])


def synthetic_batch(config: Config, vocab_sizes: tuple[int, int], device: torch.device) -> Batch:
    """Random word ids at the configured batch size and a typical length (20 tokens, or data.max_len)."""
    generator = torch.Generator().manual_seed(0)  # its own generator: training's RNG is not touched
    size, length = config.train.batch_size, min(config.data.max_len, 20)
    first = len(Vocab.SPECIALS)

    def ids(vocab: int) -> torch.Tensor:
        return torch.randint(first, max(vocab, first + 1), (size, length), generator=generator)

    src, tgt = ids(vocab_sizes[0]), ids(vocab_sizes[1])
    return Batch(src, torch.full((size,), length), tgt, tgt.roll(-1, dims=1)).to(device)
