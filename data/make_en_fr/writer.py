"""The corpus: unique pairs split at random into train/val/test, written as .tsv and .align files."""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from .alignment import Example
from .sampling import pick
from .sentences import fixed_examples
from .templates import TEMPLATES

DEFAULT_SEED = 1789
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "en-fr"  # data/en-fr, next to the package
SPLIT_SIZES = (("train", 20_000), ("val", 1_000), ("test", 1_000))


def generate(seed: int = DEFAULT_SEED) -> dict[str, list[Example]]:
    """Unique pairs (no English or French sentence twice), split at random; fixed pairs in train."""
    rng = random.Random(seed)
    fixed = fixed_examples()
    seen_en = {e.en for e in fixed}
    seen_fr = {e.fr for e in fixed}
    total = sum(size for _, size in SPLIT_SIZES) - len(fixed)
    pool: list[Example] = []
    while len(pool) < total:
        example = pick(rng, TEMPLATES)(rng)
        if example is None or example.en in seen_en or example.fr in seen_fr:
            continue
        seen_en.add(example.en)
        seen_fr.add(example.fr)
        pool.append(example)
    rng.shuffle(pool)
    sizes = dict(SPLIT_SIZES)
    test, val = pool[: sizes["test"]], pool[sizes["test"] : sizes["test"] + sizes["val"]]
    train = pool[sizes["test"] + sizes["val"] :] + fixed
    rng.shuffle(train)
    return {"train": train, "val": val, "test": test}


def write_split(out: Path, name: str, examples: Sequence[Example]) -> None:
    with open(out / f"{name}.tsv", "w", encoding="utf-8", newline="\n") as tsv:
        tsv.writelines(f"{e.en}\t{e.fr}\n" for e in examples)
    with open(out / f"{name}.align", "w", encoding="utf-8", newline="\n") as align:
        align.writelines(f"{e.align}\n" for e in examples)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make_en_fr", description="Deterministic English→French synthetic corpus with gold word alignments."
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, examples in generate(args.seed).items():
        write_split(args.out, name, examples)
        print(f"{name}: {len(examples)} pairs -> {args.out / (name + '.tsv')}")
    return 0
