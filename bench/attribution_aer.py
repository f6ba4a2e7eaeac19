"""Attention against attribution as word alignment (issue 31): AER of each, per model, on the bundled corpus.

    python bench/attribution_aer.py [--runs-dir /tmp/aer/runs] [--limit 150] [--train-only] [--models NAME ...]

Trains (or reuses, when ``<runs-dir>/<name>/best.pt`` exists) configs/default.yaml once per GRU
attention type and one small Transformer, ONE AT A TIME through ``s2s train``; then runs
``s2s evaluate --align data/en-fr/test.align --attribution M --json`` for grad, ig and occlusion
and writes bench/ATTRIBUTION_AER.md: the AER of attention and of each attribution method, and how
often attention's and the method's top source word agree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
S2S = [sys.executable, "-m", "seq2seq_cli"]
METHODS = ("grad", "ig", "occlusion")
TRANSFORMER = [
    "model.type=transformer", "model.hidden_size=128", "model.heads=4", "model.ff_dim=256",
    "model.layers=2", "train.lr=0.001", "train.lr_schedule=inverse-sqrt", "train.warmup_steps=400",
    "train.label_smoothing=0.1", "train.epochs=8",
]
MODELS = {
    "bahdanau": ["model.attention=bahdanau"],
    "luong-dot": ["model.attention=luong-dot"],
    "luong-general": ["model.attention=luong-general"],
    "location": ["model.attention=location"],
    "multihead": ["model.attention=multihead"],
    "transformer": TRANSFORMER,
}


def cpu_name() -> str:
    """lscpu's "Model name" (the machine the times come from), else platform's guess."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    names = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")]
    return names[0] if names else "unknown CPU"


def train(name: str, overrides: list[str], runs_dir: Path, config: str) -> float | None:
    """Train one model unless its run exists; the seconds it took (or took before; None: unknown)."""
    if (runs_dir / name / "best.pt").exists():
        timed = runs_dir / name / "train_seconds.txt"
        return float(timed.read_text()) if timed.exists() else None
    sets = [a for o in (*overrides, f"train.runs_dir={runs_dir}", f"train.name={name}") for a in ("--set", o)]
    start = time.perf_counter()
    subprocess.run([*S2S, "train", "-c", config, *sets], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    (runs_dir / name / "train_seconds.txt").write_text(f"{seconds:.1f}\n", encoding="utf-8")
    return seconds


def evaluate(name: str, method: str, runs_dir: Path, args: argparse.Namespace) -> dict:
    """One ``s2s evaluate --attribution`` run's JSON report (its seconds added), kept in the run folder and
    reused, so that a model can be scored while the next one trains."""
    kept = runs_dir / name / f"aer-{method}-first{args.limit or 'all'}.json"
    if kept.exists():
        return json.loads(kept.read_text(encoding="utf-8"))
    command = [*S2S, "evaluate", "--runs-dir", str(runs_dir), "--run", name, "--data", args.test, "--align",
               args.align, "--attribution", method, "--beam", "1", "--json"]
    if args.limit:
        command += ["--limit", str(args.limit)]
    start = time.perf_counter()
    out = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    report["seconds"] = time.perf_counter() - start
    kept.write_text(json.dumps(report), encoding="utf-8")
    return report


def markdown(results: dict, times: dict, args: argparse.Namespace) -> str:
    """The report: one row per model, attention's AER then each method's AER and top-word agreement."""
    sentences = next(iter(next(iter(results.values())).values()))["sentences"]
    head = " | ".join(f"{m} AER | {m} top word = attention's" for m in METHODS)
    lines = [
        f"Word alignment read from attention and from attribution, on the first {sentences} sentences of "
        f"`{args.test}` against `{args.align}` (teacher-forced on the reference; subword pieces merged to words; "
        "each target word linked to its top source word). Lower AER is better. Integrated gradients with "
        f"{args.ig_steps} steps. Models: `{args.config}` per attention type (8 epochs), and a Transformer "
        f"({' '.join(TRANSFORMER)}). Made by `python bench/attribution_aer.py"
        f"{f' --limit {args.limit}' if args.limit else ''}`. CPU: {cpu_name()}, {os.cpu_count()} cores "
        "(a shared machine: compare figures, not times).",
        "",
        f"| model | train time | BLEU | attention AER | {head} | IG max delta |",
        "| --- | ---: | ---: | ---: |" + " ---: |" * (2 * len(METHODS)) + " ---: |",
    ]
    for name, by_method in results.items():
        first = by_method[METHODS[0]]
        cells = []
        for method in METHODS:
            alignment = by_method[method]["alignment"]
            cells += [f"{100 * alignment[method]['aer']:.1f}%", f"{100 * alignment['top_word_agreement']:.1f}%"]
        seconds = times.get(name)
        lines.append(
            f"| {name} | {f'{seconds:.0f} s' if seconds else 'reused'} | {first['bleu']:.1f} "
            f"| {100 * first['alignment']['attention']['aer']:.1f}% | {' | '.join(cells)} "
            f"| {by_method['ig']['alignment']['ig_delta']:.3g} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--runs-dir", type=Path, default=Path("/tmp/aer/runs"))
    parser.add_argument("--test", default="data/en-fr/test.tsv")
    parser.add_argument("--align", default="data/en-fr/test.align")
    parser.add_argument("--limit", type=int, default=0, help="score the first N test sentences only (0: all)")
    parser.add_argument("--ig-steps", type=int, default=32, help="as s2s evaluate's default (reported only)")
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--train-only", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "ATTRIBUTION_AER.md")
    args = parser.parse_args()
    times = {}
    for name in args.models:  # one training at a time: they would share the cores
        times[name] = train(name, MODELS[name], args.runs_dir, args.config)
        print(f"{name}: trained in {times[name] or 0:.0f} s", file=sys.stderr, flush=True)
    if args.train_only:
        return
    results = {}
    for name in args.models:
        results[name] = {m: evaluate(name, m, args.runs_dir, args) for m in METHODS}
        print(f"{name}: {json.dumps({m: r['alignment'] for m, r in results[name].items()})}", file=sys.stderr, flush=True)
    table = markdown(results, times, args)
    args.out.write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
