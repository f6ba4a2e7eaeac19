"""Where a short run's seconds go before its first update and after its last, and what `translate` costs.

    python bench/startup.py [--data data/multi30k-en-fr] [--pairs 6000] [--rounds 3] [--out bench/STARTUP.md]

The run is the JoeyNMT comparison's (bench/joeynmt_speed.py): the reference GRU of
configs/multi30k-en-fr.yaml, full softmax, one epoch over the first ``--pairs`` Multi30k training pairs,
validated on the first 100 validation pairs, with a data cache of its own (cold, as JoeyNMT has none).

Each round trains it in a fresh process, ``s2s train`` as a user runs it, except that the library
functions that make up a run are wrapped in timers first (the code timed is the code that ships):
imports, config, data preparation, model build, the first update and the others, validation,
checkpoints, the loss curves; it ends as the console script does (``seq2seq_cli.cli.leave``).
Whole-process wall time is measured from outside. Then ``s2s translate
"one sentence"`` with the trained run, whole-process, and its own parts (imports, loading, decoding).

Every figure: the median over the rounds. The report names the CPU.
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
sys.path.insert(0, str(ROOT))

# Runs in the child process: wrap the run's parts in timers, then `s2s train` through the real CLI.
CHILD_TRAIN = r"""
import json, sys, time
started = time.perf_counter()
timings = {}

def timed(owner, name, label):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            timings.setdefault(label, []).append(time.perf_counter() - t)
    setattr(owner, name, wrapper)

t = time.perf_counter()
from seq2seq_cli.cli.app import app  # what `s2s` imports before it parses the command line
import seq2seq_cli.cli.train  # noqa: F401  the command's module (torch comes with the trainer, inside it)
timings["imports: the CLI"] = [time.perf_counter() - t]
t = time.perf_counter()
from seq2seq_cli import runs
import seq2seq_cli.config as settings
from seq2seq_cli.data import cache
from seq2seq_cli.training import logbook, report, run_setup, trainer, updates
timings["imports: torch and the trainer"] = [time.perf_counter() - t]
timed(settings, "load_config", "config")
timed(cache, "prepare", "data: prepare or check the cache")
timed(run_setup, "build_model", "model build")
timed(trainer.Trainer, "__init__", "trainer set-up")
timed(updates.Updater, "step", "updates")
timed(trainer, "validation_scores", "validation")
timed(logbook.Logbook, "save", "logbook: metrics, probes, best.pt")
timed(runs, "save_checkpoint", "checkpoints (last.pt, best.pt)")
timed(report, "plot_curves_or_warn", "loss curves (curves.png)")
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    timings["in process"] = [time.perf_counter() - started]
    print("TIMINGS " + json.dumps(timings), flush=True)
from seq2seq_cli.cli import leave
leave(0)  # as the s2s console script ends (seq2seq_cli/cli/__init__.py: main)
"""

CHILD_TRANSLATE = r"""
import json, sys, time
started = time.perf_counter()
from seq2seq_cli.cli.app import app
import seq2seq_cli.cli.translate  # noqa: F401
timings = {"imports: the CLI": time.perf_counter() - started}
t = time.perf_counter()
from seq2seq_cli.decoding.translator import Translator
timings["imports: torch and the decoder"] = time.perf_counter() - t
original = Translator.from_run.__func__
def from_run(cls, *args, **kwargs):
    t = time.perf_counter()
    try:
        return original(cls, *args, **kwargs)
    finally:
        timings["load the run"] = time.perf_counter() - t
Translator.from_run = classmethod(from_run)
t = time.perf_counter()
app(sys.argv[1:], standalone_mode=False)
timings["load, decode, print"] = time.perf_counter() - t
timings["in process"] = time.perf_counter() - started
print("TIMINGS " + json.dumps(timings), flush=True)
from seq2seq_cli.cli import leave
leave(0)  # as the s2s console script ends (seq2seq_cli/cli/__init__.py: main)
"""


def write_subset(data_dir: Path, folder: Path, pairs: int) -> tuple[Path, Path]:
    """The first ``pairs`` training pairs and the first 100 validation pairs, as the JoeyNMT comparison reads."""
    train, val = folder / "train.tsv", folder / "valsmall.tsv"
    lines = (data_dir / "train.tsv").read_text(encoding="utf-8").splitlines(keepends=True)[:pairs]
    train.write_text("".join(lines), encoding="utf-8")
    val.write_text("".join((data_dir / "val.tsv").read_text(encoding="utf-8").splitlines(keepends=True)[:100]), encoding="utf-8")
    return train, val


def train_command(train: Path, val: Path, runs_dir: Path, cache_dir: Path) -> list[str]:
    """``s2s train``'s arguments for the comparison's one-epoch run."""
    sets = [f"data.train={train}", f"data.val={val}", f"data.cache_dir={cache_dir}", f"train.runs_dir={runs_dir}",
            "train.name=startup", "train.epochs=1"]
    return ["train", "--config", "configs/multi30k-en-fr.yaml", *[a for s in sets for a in ("--set", s)]]


def child(script: str, arguments: list[str]) -> tuple[float, dict]:
    """Run a child script in a fresh interpreter: its whole wall time and the timings it printed (with its
    peak memory in MiB as ``peak memory MiB``)."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        started = time.perf_counter()
        command = [sys.executable, "-c", script, *arguments]
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(arguments[:2])}\n{text[-3000:]}")
    line = next(line for line in text.splitlines() if line.startswith("TIMINGS "))
    return wall, {**json.loads(line.removeprefix("TIMINGS ")), "peak memory MiB": usage.ru_maxrss / 1024}


def train_round(train: Path, val: Path, scratch: Path, index: int) -> dict[str, float]:
    """One cold one-epoch run: seconds per part, the whole process, and what lies outside the updates."""
    runs_dir, cache_dir = scratch / f"runs{index}", scratch / f"cache{index}"
    wall, timings = child(CHILD_TRAIN, train_command(train, val, runs_dir, cache_dir))
    steps, memory = timings.pop("updates"), timings.pop("peak memory MiB")
    parts = {label: sum(values) for label, values in timings.items()}
    parts["first update"], parts["updates after the first"] = steps[0], sum(steps[1:])
    parts["interpreter start and exit"] = wall - parts.pop("in process")
    parts["whole process"] = wall
    parts["outside the updates"] = wall - sum(steps)
    parts["peak memory MiB"] = memory
    return parts


def translate_round(run_dir: Path) -> dict[str, float]:
    sentence = "a man in a blue shirt is standing on a ladder ."
    wall, timings = child(CHILD_TRANSLATE, ["translate", "--run", str(run_dir), sentence])
    timings["interpreter start and exit"] = wall - timings.pop("in process")
    timings["whole process"] = wall
    return timings


def table(title: str, rounds: list[dict[str, float]]) -> list[str]:
    lines = [f"| {title} | median | rounds |", "| --- | ---: | --- |"]
    for label in rounds[0]:
        values = [r[label] for r in rounds]
        bold = "**" if label in ("whole process", "outside the updates") else ""
        digits = 0 if "MiB" in label else 2
        lines.append(f"| {label} | {bold}{statistics.median(values):.{digits}f}{bold} | "
                     f"{', '.join(f'{v:.{digits}f}' for v in values)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "multi30k-en-fr")
    parser.add_argument("--pairs", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args()
    if not (args.data / "train.tsv").is_file():
        raise SystemExit(f"{args.data}: no train.tsv (Multi30k's TSVs: s2s data get multi30k)")
    from seq2seq_cli.system import cpu_name

    if (load := os.getloadavg()[0]) > 0.5:
        print(f"warning: load average {load:.1f} before the run; other work on this CPU lowers the figures", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="s2s-startup-") as scratch:
        train, val = write_subset(args.data.resolve(), Path(scratch), args.pairs)
        trained = [train_round(train, val, Path(scratch), i) for i in range(args.rounds)]
        translated = [translate_round(Path(scratch) / "runs0" / "startup") for _ in range(args.rounds)]
    import torch

    lines = [
        f"# Start-up and shut-down: {cpu_name()}",
        "",
        f"Written by `python bench/startup.py --pairs {args.pairs} --rounds {args.rounds}` on {time.strftime('%Y-%m-%d')}: "
        f"{cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__}, Python {sys.version.split()[0]}. "
        f"One epoch of the reference GRU (full softmax) over the first {args.pairs:,} Multi30k pairs, with a cold "
        "data cache, in a fresh process per round; *outside the updates*: the whole process less the optimizer "
        "updates (the target: ≤ 2 s).",
        "",
        *table("one-epoch `s2s train`", trained),
        "",
        "`s2s translate \"one sentence\"` with that run, warm disk (the target: ≤ 1 s):",
        "",
        *table("`s2s translate`", translated),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
