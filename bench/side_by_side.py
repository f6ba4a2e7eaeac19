"""Two trainings at once on one machine: does each still get its share of the cores?

    python bench/side_by_side.py [--seconds 40] [--env OMP_WAIT_POLICY=ACTIVE ...] [--out bench/CONCURRENT.md]

Trains configs/default.yaml for a fixed wall-clock budget (train.max_time) alone, then two copies
started together, and reports each run's target tokens/s from its metrics.jsonl. The figure that
matters: the two concurrent runs' tokens/s added up, as a share of the solo run's. ``--env`` sets
environment variables for the trainings (for example the thread pools' wait policy) to compare
against s2s's defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_name() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def start_training(runs_dir: Path, name: str, seconds: int, env: dict[str, str]) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "seq2seq_cli", "train", "--config", "configs/default.yaml",
        "--set", f"train.runs_dir={runs_dir}", "--set", f"train.name={name}",
        "--set", f"train.max_time={seconds}s", "--set", "train.epochs=100",
    ]
    return subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def tokens_per_second(run_dir: Path) -> float:
    """Target tokens per second of training time, over every validation window of the run."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # each record's window: tokens/s over the steps since the previous validation
    steps = [r["step"] for r in records]
    windows = [b - a for a, b in zip([0, *steps], steps)]
    return sum(r["tokens_per_s"] * w for r, w in zip(records, windows)) / max(sum(windows), 1)


def trial(runs_dir: Path, copies: int, seconds: int, env: dict[str, str]) -> list[float]:
    processes = [start_training(runs_dir, f"copy{i}", seconds, env) for i in range(copies)]
    for process in processes:
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"training failed: {stderr[-2000:]}")
    return [tokens_per_second(runs_dir / f"copy{i}") for i in range(copies)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=40, help="training budget of each run")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the trainings (repeatable)")
    parser.add_argument("--out", type=Path, help="append the result as a Markdown table row here")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory() as scratch:
        solo = trial(Path(scratch) / "solo", 1, args.seconds, env)[0]
        pair = trial(Path(scratch) / "pair", 2, args.seconds, env)
    share = sum(pair) / solo
    label = " ".join(args.env) or "s2s defaults"
    row = f"| {cpu_name()} | {label} | {solo:,.0f} | {pair[0]:,.0f} + {pair[1]:,.0f} | {100 * share:.0f}% |"
    print(f"{cpu_name()}, {os.cpu_count()} CPUs, {label}: solo {solo:,.0f} tok/s; "
          f"together {pair[0]:,.0f} + {pair[1]:,.0f} = {sum(pair):,.0f} tok/s ({100 * share:.0f}% of solo)")
    if args.out:
        with args.out.open("a", encoding="utf-8") as handle:
            handle.write(row + "\n")


if __name__ == "__main__":
    main()
