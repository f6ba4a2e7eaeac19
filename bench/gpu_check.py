"""GPU check: fp32 against bf16 for the Multi30k reference GRU and the Transformer.

    python bench/gpu_check.py [--data data/multi30k-en-fr] [--steps 300]

Trains each model for a fixed number of steps in each precision (same seed, same batches) and
prints target tokens/s and the training loss over the last 50 steps. Needs a CUDA GPU; takes
a few minutes.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seq2seq_cli.config import load_config  # noqa: E402
from seq2seq_cli.data.batches import bucketed_batches, collate  # noqa: E402
from seq2seq_cli.data.prepare import prepare_data, read_training_pairs  # noqa: E402
from seq2seq_cli.data.tokenizers import train_tokenizers  # noqa: E402
from seq2seq_cli.models.seq2seq import build_model  # noqa: E402
from seq2seq_cli.training.adam import Adam  # noqa: E402
from seq2seq_cli.training.validation import batch_loss  # noqa: E402

CONFIGS = {"gru": "configs/multi30k-en-fr.yaml", "transformer": "configs/multi30k-en-fr-transformer.yaml"}


def measure(name: str, data_dir: Path, precision: str, steps: int, scratch: Path) -> tuple[float, float]:
    config = load_config(ROOT / CONFIGS[name], [f"data.train={data_dir / 'train.tsv'}", f"data.val={data_dir / 'val.tsv'}"])
    pairs = read_training_pairs(config)
    data = prepare_data(config, train_tokenizers(config.data, scratch, pairs[0]), pairs=pairs)
    torch.manual_seed(0)
    device = torch.device("cuda")
    model = build_model(config.model, len(data.src_vocab), len(data.tgt_vocab), config.data.max_len).to(device).train()
    optimizer = Adam(model.parameters(), lr=config.train.lr)
    batches = bucketed_batches(data.train, config.train.batch_size, random.Random(0), config.train.batch_tokens)
    dtype = {"bf16": torch.bfloat16}.get(precision)
    losses, tokens = [], 0
    for index in range(steps + 20):
        if index == 20:  # warm-up done
            torch.cuda.synchronize()
            start, tokens = time.perf_counter(), 0
        batch = collate([data.train[i] for i in batches[index % len(batches)]]).to(device)
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            loss, n = batch_loss(model, batch, label_smoothing=config.train.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        (loss.float() / n).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.clip_grad)
        optimizer.step()
        losses.append(loss.detach() / n)
        tokens += n
    torch.cuda.synchronize()
    speed = tokens / (time.perf_counter() - start)
    return speed, float(torch.stack(losses[-50:]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "multi30k-en-fr")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--models", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--no-cudnn-attention", action="store_true",
                        help="keep scaled_dot_product_attention off cuDNN's kernel (planned anew for each shape)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench/gpu_check.py needs a CUDA GPU")
    import tempfile

    if args.no_cudnn_attention:
        torch.backends.cuda.enable_cudnn_sdp(False)
    print(f"{torch.cuda.get_device_name()} · torch {torch.__version__} · cuDNN attention "
          f"{'on' if torch.backends.cuda.cudnn_sdp_enabled() else 'off'}")
    print("| model | precision | target tokens/s | loss (last 50 steps) |\n| --- | --- | ---: | ---: |")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models:
            results = {p: measure(name, args.data, p, args.steps, Path(scratch)) for p in ("fp32", "bf16")}
            for precision, (speed, loss) in results.items():
                print(f"| {name} | {precision} | {speed:,.0f} | {loss:.4f} |", flush=True)
            (fp32_speed, fp32_loss), (bf16_speed, bf16_loss) = results["fp32"], results["bf16"]
            print(
                f"| {name} | bf16/fp32 | {bf16_speed / fp32_speed:.2f}x | {100 * (bf16_loss / fp32_loss - 1):+.2f}% |",
                flush=True,
            )


if __name__ == "__main__":
    main()
