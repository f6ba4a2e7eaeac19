"""Two trainings at once on one machine: does each still get its share of the cores?

    python bench/sharing.py [--seconds 30] [--repeats 3] [--settings NAME ...] [--no-store]

Trains configs/default.yaml for a fixed wall-clock budget (train.max_time) alone, then two copies
started together, for each OpenMP setting named, and reports each run's target tokens/s from its
metrics.jsonl. The figure that matters is the pair's tokens/s added up as a share of one solo run
(100%: the pair loses nothing to sharing; 50%: half the machine's work is lost). Beside it, what
explains a loss: each process's CPU seconds per wall second and its context switches (from
``wait4``'s resource usage), so spinning (CPU time without progress) and thrashing (context switches)
show apart.

Results go to bench/SHARING.json, one entry per CPU kind, and bench/SHARING.md is rewritten from
all of them (``--no-store``: print only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "bench" / "SHARING.json"
sys.path.insert(0, str(ROOT))

from seq2seq_cli.system import cpu_name  # noqa: E402

# label: (environment, train.threads). train.threads: 0 (the default) shares the cores with other processes
# (seq2seq_cli/training/sharing.py); a fixed count keeps its threads whatever else runs, as s2s did before.
SETTINGS: dict[str, tuple[dict[str, str], int]] = {
    "s2s (threads 0: shares)": ({}, 0),
    "2 threads fixed (s2s before)": ({}, 2),
    "2 threads, passive wait (GOMP_SPINCOUNT=0)": ({"GOMP_SPINCOUNT": "0"}, 2),
    "2 threads, libgomp's spinning (300000)": ({"GOMP_SPINCOUNT": "300000"}, 2),
    "1 thread": ({}, 1),
}


def start_training(runs_dir: Path, name: str, seconds: int, setting: str) -> tuple[subprocess.Popen, Path]:
    env, threads = SETTINGS[setting]
    command = [
        sys.executable, "-m", "seq2seq_cli", "train", "--config", "configs/default.yaml",
        "--set", f"train.runs_dir={runs_dir}", "--set", f"train.name={name}",
        "--set", f"train.max_time={seconds}s", "--set", "train.epochs=100", "--set", f"train.threads={threads}",
    ]
    log = runs_dir / f"{name}.log"
    runs_dir.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=stderr)
    return process, log


def tokens_per_second(run_dir: Path) -> float:
    """Target tokens per second of training time, over every validation window of the run."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records]
    windows = [b - a for a, b in zip([0, *steps], steps)]  # each record's window: the steps since the last one
    return sum(r["tokens_per_s"] * w for r, w in zip(records, windows)) / max(sum(windows), 1)


def trial(runs_dir: Path, copies: int, seconds: int, setting: str) -> list[dict]:
    """``copies`` trainings started together: each one's tokens/s, CPU share and context switches."""
    started = time.perf_counter()
    processes = [start_training(runs_dir, f"copy{i}", seconds, setting) for i in range(copies)]
    results = []
    for i, (process, log) in enumerate(processes):
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"training failed ({setting}): {log.read_text()[-2000:]}")
        wall = time.perf_counter() - started
        results.append({
            "tokens_per_s": tokens_per_second(runs_dir / f"copy{i}"),
            "cpu_per_wall": (usage.ru_utime + usage.ru_stime) / wall,
            "context_switches_per_s": (usage.ru_nvcsw + usage.ru_nivcsw) / wall,
        })
    return results


def measure(settings: list[str], seconds: int, repeats: int) -> dict:
    """Solo runs interleaved across settings (medians count), then one pair per setting."""
    solo: dict[str, list[dict]] = {label: [] for label in settings}
    pair: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(repeats):
            for index, label in enumerate(settings):
                solo[label] += trial(Path(scratch) / f"solo{index}-{repeat}", 1, seconds, label)
        for index, label in enumerate(settings):
            pair[label] = trial(Path(scratch) / f"pair{index}", 2, seconds, label)
    return {label: summary(solo[label], pair[label]) for label in settings}


def summary(solo: list[dict], pair: list[dict]) -> dict:
    speed = statistics.median(r["tokens_per_s"] for r in solo)
    return {
        "solo_runs": [round(r["tokens_per_s"]) for r in solo],
        "solo": round(speed),
        "solo_cpu_per_wall": round(statistics.median(r["cpu_per_wall"] for r in solo), 2),
        "solo_switches_per_s": round(statistics.median(r["context_switches_per_s"] for r in solo)),
        "pair": [round(r["tokens_per_s"]) for r in pair],
        "pair_cpu_per_wall": [round(r["cpu_per_wall"], 2) for r in pair],
        "pair_switches_per_s": [round(r["context_switches_per_s"]) for r in pair],
    }


def store(cpu: str, result: dict, seconds: int, repeats: int) -> None:
    """This CPU's entry in SHARING.json (other kinds' entries stay), and SHARING.md from all of them."""
    kinds = json.loads(STORE.read_text(encoding="utf-8")) if STORE.is_file() else {}
    kinds[cpu] = {"settings": result, "seconds": seconds, "repeats": repeats, "date": time.strftime("%Y-%m-%d")}
    STORE.write_text(json.dumps(kinds, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    STORE.with_suffix(".md").write_text(report(kinds), encoding="utf-8")


def report(kinds: dict) -> str:
    lines = [
        "# Two trainings side by side",
        "",
        "Written by `python bench/sharing.py` (see its docstring): configs/default.yaml trained for a fixed time",
        "alone (median of interleaved runs, each run in brackets) and two copies started together. *Pair*: the",
        "two runs' tokens/s added up, as a share of the first row's solo speed; the target is ≥ 80%. *CPU/wall*:",
        "CPU seconds per wall second of each process; *switches*: its context switches per second.",
    ]
    for cpu, entry in kinds.items():
        settings = entry["settings"]
        reference = next(iter(settings.values()))["solo"]
        lines += [
            "", f"## {cpu}", "",
            f"2 CPUs, {entry['seconds']} s per run, {entry['repeats']} solo runs per setting; measured {entry['date']}.", "",
            "| setting | solo tokens/s | solo CPU/wall, switches/s | pair tokens/s | pair CPU/wall | pair switches/s "
            "| pair, share of solo |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for label, r in settings.items():
            runs = ", ".join(f"{x:,}" for x in r["solo_runs"])
            lines.append(
                f"| {label} | {r['solo']:,} ({runs}) | {r['solo_cpu_per_wall']:.2f}, {r['solo_switches_per_s']:,} | "
                f"{' + '.join(f'{x:,}' for x in r['pair'])} | {' + '.join(f'{x:.2f}' for x in r['pair_cpu_per_wall'])} | "
                f"{' + '.join(f'{x:,}' for x in r['pair_switches_per_s'])} | **{100 * sum(r['pair']) / reference:.0f}%** |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30, help="training budget of each run")
    parser.add_argument("--repeats", type=int, default=3, help="solo runs per setting (interleaved; the median counts)")
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=list(SETTINGS), metavar="NAME",
                        help=f"which settings to measure (default: all of {', '.join(SETTINGS)})")
    parser.add_argument("--no-store", action="store_true", help="print only; leave SHARING.json and SHARING.md")
    args = parser.parse_args()
    if (load := os.getloadavg()[0]) > 0.5:
        print(f"warning: load average {load:.1f} before the run; other work on this CPU lowers the figures", file=sys.stderr)
    result = measure(args.settings, args.seconds, args.repeats)
    cpu = cpu_name()
    if args.no_store:
        print(report({cpu: {"settings": result, "seconds": args.seconds, "repeats": args.repeats,
                            "date": time.strftime("%Y-%m-%d")}}))
        return
    store(cpu, result, args.seconds, args.repeats)
    print(STORE.with_suffix(".md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
