"""Why bf16 training takes more memory than float32 on a CPU: peak memory against distinct batch shapes.

    python bench/bf16_memory.py fp32 20
    python bench/bf16_memory.py bf16 20
    ONEDNN_PRIMITIVE_CACHE_CAPACITY=0 python bench/bf16_memory.py bf16 20

Trains the reference GRU (configs/multi30k-en-fr.yaml, 10,004-word vocabularies) on random
batches whose size and length change every step, as length-bucketed batches do, and prints the
process's peak resident memory every 5 steps. Run each case in a fresh process.
"""

from __future__ import annotations

import resource
import sys
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seq2seq_cli.config import load_config  # noqa: E402
from seq2seq_cli.models.seq2seq import build_model  # noqa: E402
from seq2seq_cli.training.adam import Adam  # noqa: E402
from seq2seq_cli.training.precision import synthetic_batch  # noqa: E402
from seq2seq_cli.training.validation import batch_loss  # noqa: E402

VOCAB = 10_004


def peak_mib() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main(precision: str, steps: int) -> None:
    config = load_config(ROOT / "configs" / "multi30k-en-fr.yaml")
    torch.manual_seed(0)
    model = build_model(config.model, VOCAB, VOCAB, config.data.max_len).train()
    optimizer = Adam(model.parameters(), lr=1e-3)
    dtype = {"fp32": None, "bf16": torch.bfloat16}[precision]
    marks = []
    for step in range(steps):
        # a new (batch, length) shape most steps: lengths 6 to 20, batches of 32 to 95 sentences
        shaped = replace(config, data=replace(config.data, max_len=6 + (step * 7) % 40),
                         train=replace(config.train, batch_size=32 + (step * 13) % 64))
        batch = synthetic_batch(shaped, (VOCAB, VOCAB), torch.device("cpu"))
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            loss, tokens = batch_loss(model, batch)
        optimizer.zero_grad()
        (loss / tokens).backward()
        optimizer.step()
        if step % 5 == 4:
            marks.append(peak_mib())
    print(f"{precision}: peak MiB after every 5 steps: {marks}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
