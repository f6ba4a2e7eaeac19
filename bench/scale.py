"""Corpora of millions of pairs: preparation once, then training from the arrays on disk
(lengths mapped, sentences read with pread).

    python bench/scale.py [--sizes 20000 200000 1000000 10000000] [--budget 20s] [--rounds 1] [--out bench/SCALE.md]

For each size it writes a corpus of that many pairs (Multi30k's training set repeated, each copy's
source marked with its number so that lines differ; the bundled data/en-fr corpus where Multi30k is
missing), prepares it with ``s2s prepare`` into an empty cache (wall time, pairs/s, peak memory),
then trains the adaptive-softmax reference GRU (configs/multi30k-en-fr.yaml, ``model.output:
adaptive``) for ``--budget`` with the cache warm, recording the time from starting ``s2s train`` to
its first training step, the training process's peak resident memory and its tokens/s. With
``--rounds N`` every size is prepared first and then trained N times, the sizes taking turns, so that
a load that comes and goes on a shared machine falls on every size alike; the medians are reported.
Writes a table and a log-log plot (bench/scale.png) of time and memory against corpus size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MULTI30K = ROOT / "data" / "multi30k-en-fr"
sys.path.insert(0, str(ROOT / "bench"))
from bigfile import PEAK, cpu_name  # noqa: E402

# ``s2s train`` with the moment of its first optimiser step printed (wall clock, to compare with the start).
FIRST_STEP = """
import sys, time
from seq2seq_cli.training import trainer as training
update = training.Trainer._update
def first(self, *args):
    if self.step == 0 and not getattr(self, "_timed", False):
        self._timed = True
        print(f"FIRST_STEP {time.time():.3f}", file=sys.stderr, flush=True)
    return update(self, *args)
training.Trainer._update = first
from seq2seq_cli.cli import main
sys.argv = ["s2s", *sys.argv[1:]]
main()
"""


def make_corpus(path: Path, pairs: int) -> None:
    source = MULTI30K / "train.tsv" if (MULTI30K / "train.tsv").is_file() else ROOT / "data/en-fr/train.tsv"
    lines = source.read_text(encoding="utf-8").splitlines()
    with open(path, "w", encoding="utf-8") as out:
        for i in range(pairs):
            src, tgt = lines[i % len(lines)].split("\t")
            out.write(f"{src} r{i // len(lines)}\t{tgt}\n" if i >= len(lines) else f"{src}\t{tgt}\n")


def settings(corpus: Path, val: Path, cache: Path, runs: Path, budget: str) -> list[str]:
    keys = [f"data.train={corpus}", f"data.val={val}", f"data.cache_dir={cache}", f"train.runs_dir={runs}",
            "model.output=adaptive", f"train.max_time={budget}", "train.validate_every=0", "train.epochs=1000",
            "decode.beam_size=1"]
    return [a for key in keys for a in ("--set", key)]


def prepare(options: list[str]) -> tuple[float, float]:
    """Wall seconds and peak memory (MiB, the largest process: main or a worker) of ``s2s prepare``."""
    command = [sys.executable, "-m", "seq2seq_cli", "prepare", "-c", "configs/multi30k-en-fr.yaml", *options]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, *command], cwd=ROOT, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, int(done.stdout.split()[-1]) / 1024


def train(options: list[str], runs: Path) -> dict:
    """Seconds to the first step, peak memory and tokens/s of one ``s2s train`` with the cache warm."""
    command = [sys.executable, "-c", FIRST_STEP, "train", "-c", "configs/multi30k-en-fr.yaml", *options]
    start = time.time()
    done = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    assert "prepared once, reused" in done.stdout, done.stdout[-2000:]
    first = next(float(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("FIRST_STEP"))
    record = json.loads((runs / "multi30k-en-fr" / "metrics.jsonl").read_text().splitlines()[-1])
    return {"first_step": first - start, "peak": record["peak_memory_mib"], "tokens_per_s": record["tokens_per_s"]}


def prepare_size(work: Path, val: Path, size: int, budget: str) -> dict:
    """Write a corpus of ``size`` pairs and prepare it into an empty cache; its row's preparation figures."""
    corpus, cache = work / f"pairs{size}.tsv", work / f"cache{size}"
    make_corpus(corpus, size)
    options = settings(corpus, val, cache, work / f"runs{size}", budget)
    seconds, peak = prepare(options)
    meta_path = next(cache.glob("*/meta.json"))
    return {"size": size, "prepare_s": seconds, "pairs_per_s": size / seconds, "prepare_peak": peak,
            "cache_mib": sum(p.stat().st_size for p in meta_path.parent.iterdir()) / 2**20,
            "kept": json.loads(meta_path.read_text())["pairs"], "options": options}


def median_of(runs: list[dict]) -> dict:
    """Median of each measured figure over the rounds, with the tokens/s range beside it."""
    row = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    speeds = [run["tokens_per_s"] for run in runs]
    return {**row, "rounds": len(runs), "tokens_min": min(speeds), "tokens_max": max(speeds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000, 1_000_000, 10_000_000])
    parser.add_argument("--budget", default="20s", help="Training time per size (train.max_time).")
    parser.add_argument("--rounds", type=int, default=1, help="Trainings per size, the sizes taking turns (medians).")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "SCALE.md")
    parser.add_argument("--add", action="store_true", help="Keep the other sizes' rows of an earlier run (in OUT.json).")
    args = parser.parse_args()
    saved = args.out.with_suffix(".json")
    rows = [r for r in json.loads(saved.read_text()) if r["size"] not in args.sizes] if args.add and saved.is_file() else []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        val = work / "val.tsv"
        val_source = MULTI30K / "val.tsv" if (MULTI30K / "val.tsv").is_file() else ROOT / "data/en-fr/val.tsv"
        val.write_text("\n".join(val_source.read_text(encoding="utf-8").splitlines()[:200]) + "\n", encoding="utf-8")
        prepared = {size: prepare_size(work, val, size, args.budget) for size in args.sizes}
        trained: dict[int, list[dict]] = {size: [] for size in args.sizes}
        for round_number in range(args.rounds):
            for size in args.sizes:
                options, runs = prepared[size]["options"], work / f"runs{size}"
                trained[size].append(train(options, runs))
                print(json.dumps({"size": size, "round": round_number + 1, **trained[size][-1]}), flush=True)
                shutil.rmtree(runs)
        for size in args.sizes:
            row = {key: value for key, value in prepared[size].items() if key != "options"}
            row.update(median_of(trained[size]), budget=args.budget)
            rows.append(row)
            print(json.dumps(row), flush=True)
    rows.sort(key=lambda r: r["size"])
    saved.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    write_report(args, rows)


def write_report(args, rows: list[dict]) -> None:
    series: dict[tuple[str, int], list[str]] = {}  # rows kept by --add may come from other settings
    for r in rows:
        series.setdefault((r.get("budget", args.budget), r.get("rounds", 1)), []).append(str(r["size"]))
    commands = " and ".join(f"`python bench/scale.py --sizes {' '.join(sizes)} --budget {budget} --rounds {rounds}`"
                            for (budget, rounds), sizes in series.items())
    lines = [
        "# Scale: corpora of millions of pairs, prepared once and read from disk",
        "",
        f"Measured with {commands} on "
        f"**{cpu_name()}** (2 cores): Multi30k's training pairs repeated (each copy marked), the adaptive-softmax "
        "reference GRU (`configs/multi30k-en-fr.yaml`, `model.output=adaptive`, validation on 200 pairs at the end). "
        "*prepare*: `s2s prepare` into an empty cache, wall time (Python and torch start included) and peak memory of "
        "its largest process. *first step*: from starting `s2s train` (cache warm) to its first optimiser step. "
        "*peak*: the training process's peak resident memory (VmHWM, memory-mapped pages it touched included). "
        "*tokens/s*: training speed over the budget; with several rounds (the sizes taking turns) the median, "
        "with the range in brackets.",
        "",
        "| pairs | prepare | pairs/s | prepare peak | cache on disk | first step | training peak | tokens/s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['size']:,} | {r['prepare_s']:,.1f} s | {r['pairs_per_s']:,.0f} | {r['prepare_peak']:,.0f} MiB "
                     f"| {r['cache_mib']:,.0f} MiB | {r['first_step']:.1f} s | {r['peak']:,.0f} MiB | {speed_cell(r)} |")
    lines += ["", "![time and memory against corpus size](scale.png)", ""]
    marker = "<!-- reading -->"  # what follows it was written by hand and survives a rerun
    previous = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
    reading = previous[previous.index(marker):] if marker in previous else marker + "\n"
    args.out.write_text("\n".join(lines) + "\n" + reading, encoding="utf-8")
    plot(rows, args.out.parent / "scale.png")
    print(f"wrote {args.out}")


def speed_cell(row: dict) -> str:
    """tokens/s, with the range over the rounds when there were several."""
    if row.get("rounds", 1) < 2:
        return f"{row['tokens_per_s']:,.0f}"
    return f"{row['tokens_per_s']:,.0f} ({row['tokens_min']:,.0f}–{row['tokens_max']:,.0f})"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["size"] for r in rows]
    figure, (times, memory) = plt.subplots(1, 2, figsize=(10, 4))
    times.loglog(sizes, [r["prepare_s"] for r in rows], "o-", label="prepare (once)")
    times.loglog(sizes, [r["first_step"] for r in rows], "o-", label="s2s train to first step (cache warm)")
    times.set(xlabel="pairs", ylabel="seconds", title="time")
    memory.loglog(sizes, [r["peak"] for r in rows], "o-", label="training peak")
    memory.loglog(sizes, [r["prepare_peak"] for r in rows], "o-", label="preparation peak")
    memory.set(xlabel="pairs", ylabel="MiB", title="memory")
    for axes in (times, memory):
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
