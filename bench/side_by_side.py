"""Two trainings at once on one machine: does each still get its share of the cores?

    python bench/side_by_side.py [--seconds 30] [--repeats 3] [--out bench/SIDE_BY_SIDE.md]

Trains configs/default.yaml for a fixed wall-clock budget (train.max_time) alone, then two copies
started together, and reports each run's target tokens/s from its metrics.jsonl. The figure that
matters: the two concurrent runs' tokens/s added up, as a share of the solo run's. Both with
s2s's default thread-pool spinning and with libgomp's own (what s2s did before), so the solo cost
of the change is measured too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seq2seq_cli.system import cpu_name  # noqa: E402


def publish(lines: list[str], out: Path | None) -> None:
    """Print a Markdown report, and keep it in ``out`` when given."""
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        out.write_text(text, encoding="utf-8")


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
    parser.add_argument("--seconds", type=int, default=30, help="training budget of each run")
    parser.add_argument("--repeats", type=int, default=3, help="solo runs per setting (interleaved; the median counts)")
    parser.add_argument("--out", type=Path, help="write the Markdown table here")
    args = parser.parse_args()
    settings = {  # label: environment for the trainings
        "s2s defaults (GOMP_SPINCOUNT=10000)": {},
        "libgomp's default spinning (GOMP_SPINCOUNT=300000, s2s before this change)": {"GOMP_SPINCOUNT": "300000"},
    }
    solo: dict[str, list[float]] = {label: [] for label in settings}
    pair: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            for index, (label, env) in enumerate(settings.items()):
                solo[label] += trial(Path(scratch) / f"solo{index}-{repeat}", 1, args.seconds, env)
        for index, (label, env) in enumerate(settings.items()):
            pair[label] = trial(Path(scratch) / f"pair{index}", 2, args.seconds, env)
    baseline = statistics.median(solo[next(iter(settings))])
    lines = [
        f"CPU: {cpu_name()}, {os.cpu_count()} CPUs; configs/default.yaml, {args.seconds} s of training per run; "
        f"solo: median of {args.repeats} interleaved runs",
        "",
        "| setting | solo tokens/s (runs) | two at once, tokens/s each | together, share of one solo run |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label in settings:
        runs_text = ", ".join(f"{value:,.0f}" for value in solo[label])
        median = statistics.median(solo[label])
        lines.append(
            f"| {label} | {median:,.0f} ({runs_text}) | {pair[label][0]:,.0f} + {pair[label][1]:,.0f} | "
            f"{100 * sum(pair[label]) / median:.0f}% of its own solo, {100 * sum(pair[label]) / baseline:.0f}% of s2s's |"
        )
    publish(lines, args.out)


if __name__ == "__main__":
    main()
