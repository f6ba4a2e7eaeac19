"""s2s against JoeyNMT 2.3.0 on this CPU: training tokens/s of the same model, measured in turns.

    python bench/joeynmt_speed.py --joey-python /work/joey/bin/python \
        [--data data/multi30k-en-fr] [--seconds 120] [--rounds 3]

Issue 18 asks for ≥ 3× JoeyNMT's training speed on the same model on each kind of CPU, and a
JoeyNMT figure measured on another machine says little about this one (the "Intel" figure quoted
so far came from a Sapphire Rapids; a Cascade Lake VM is another machine). So this script trains
both, taking turns so that a shared machine's slow and fast minutes fall on both alike:

* JoeyNMT: bench/joeynmt-reference-gru.yaml, the reference GRU (bidirectional encoder, hidden and
  embeddings 256, Bahdanau attention without input feeding, 10k word vocabularies, batches of 64
  sentences, dropout 0.3, Adam 0.001), trained by ``python -m joeynmt train`` in a scratch folder for
  ``--seconds``; its figure is the median of the "Tokens per Sec" lines it logs, the first left out
  (start-up). Its tokens are target tokens without padding, ``</s>`` included: s2s's count.
* s2s: the same model and data (configs/multi30k-en-fr.yaml, full softmax) through bench/run.py's
  ``training_throughput`` in a fresh process, for ``--seconds / 2`` (it has no start-up to skip).

Then the whole process, as a user feels it (``--pairs``, default 6,000): each trains one epoch over the
first ``--pairs`` training pairs in a fresh process, in turns, and the wall time from start to exit is
compared, beside each one's time in training updates (JoeyNMT's logged epoch time; s2s's updates, timed
by bench/startup.py's wrappers) and peak memory. s2s starts with a cold data cache (JoeyNMT has none) and
validates once on 100 pairs at the end; JoeyNMT does not validate (its ``validation_freq`` is never reached).

It prints every round and the medians, and stores this CPU's result in bench/JOEYNMT.json, which
bench/run.py reads for its "× JoeyNMT" column, and bench/JOEYNMT.md, a table per CPU kind.

JoeyNMT is not a dependency of s2s: install it in a virtual environment of its own, e.g.
``python -m venv /work/joey``, ``/work/joey/bin/pip install torch==2.13.0``, then ``pip install
joeynmt==2.3.0 importlib-metadata -c <a file pinning torch==2.13.0>`` (JoeyNMT imports
importlib_metadata without declaring it), and pass its interpreter as ``--joey-python``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "bench" / "joeynmt-reference-gru.yaml"
STORE = ROOT / "bench" / "JOEYNMT.json"

# JoeyNMT 2.3.0, joeynmt/training.py, TrainManager._log_scores and the end of an epoch
EPOCH_DONE = re.compile(r"Epoch\s+1, total training loss: [^,]+, num\. of seqs: \d+, num\. of tokens: (\d+), ([0-9.]+)\[sec\]")
PROGRESS = re.compile(r"Epoch\s+\d+, Step:\s+(\d+), Batch Loss:.*Tokens per Sec:\s+(\d+)")
VERSION = re.compile(r"This is Joey-NMT \(version ([^)]+)\)")

# s2s's side, in a process of its own: the training throughput bench/run.py reports.
S2S_SPEED = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1] + "/bench")
import run
from seq2seq_cli.config import load_config
from seq2seq_cli.data.prepare import prepare_data
data_dir, seconds = Path(sys.argv[2]), float(sys.argv[3])
config = load_config(run.CONFIG, run.variant_overrides(data_dir, "full softmax"))
print(json.dumps({"tokens_per_s": run.training_throughput(config, prepare_data(config), seconds)["tokens_per_s"]}))
"""


def write_plain_files(data_dir: Path, scratch: Path, pairs: int) -> None:
    """train.en / train.fr, the first ``pairs`` of them as trainsub.*, and the first 100 validation pairs as
    valsmall.*, whitespace runs made one space."""
    for name, out, limit in (("train.tsv", "train", None), ("train.tsv", "trainsub", pairs), ("val.tsv", "valsmall", 100)):
        lines = (data_dir / name).read_text(encoding="utf-8").splitlines()[:limit]
        pairs = [[" ".join(side.split()) for side in line.split("\t")] for line in lines]
        (scratch / f"{out}.en").write_text("".join(f"{src}\n" for src, _ in pairs), encoding="utf-8")
        (scratch / f"{out}.fr").write_text("".join(f"{tgt}\n" for _, tgt in pairs), encoding="utf-8")


def joeynmt_speed(joey_python: str, scratch: Path, seconds: float, threads: int) -> tuple[float, int, str]:
    """Train JoeyNMT for ``seconds`` of wall time in ``scratch``: median logged tokens/s, intervals, version."""
    model_dir = scratch / "model"
    shutil.rmtree(model_dir, ignore_errors=True)  # JoeyNMT refuses to train into an existing model_dir
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "CUDA_VISIBLE_DEVICES": ""}
    command = [joey_python, "-m", "joeynmt", "train", str(CONFIG), "--skip-test"]
    with open(scratch / "console.txt", "w", encoding="utf-8") as console:
        process = subprocess.Popen(command, cwd=scratch, env=env, stdout=console, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            stop(process)
        else:  # only an error ends a 30-epoch training this early
            tail = (scratch / "console.txt").read_text(encoding="utf-8", errors="replace")[-3000:]
            raise SystemExit(f"JoeyNMT training stopped by itself (exit {process.returncode}):\n{tail}")
    log_path = model_dir / "train.log"
    log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    speeds = [int(m.group(2)) for m in PROGRESS.finditer(log)][1:]  # the first interval holds start-up
    if len(speeds) < 3:
        raise SystemExit(f"JoeyNMT logged {len(speeds) + 1} progress line(s) in {seconds:.0f} s: train longer")
    version = VERSION.search(log)
    return statistics.median(speeds), len(speeds), version.group(1) if version else "?"


def stop(process: subprocess.Popen) -> None:
    """End the training's process group: SIGTERM, then SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=10)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def s2s_speed(data_dir: Path, seconds: float, threads: int) -> float:
    """s2s's training tokens/s on the same model, in a fresh process."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", S2S_SPEED, str(ROOT), str(data_dir), str(seconds)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"s2s's throughput run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["tokens_per_s"]


def measured(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """Run ``command`` to its end: wall seconds, peak memory in MiB, exit status."""
    with open(log, "w", encoding="utf-8") as console:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=console, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def joeynmt_whole_process(joey_python: str, scratch: Path, threads: int) -> dict:
    """JoeyNMT, one epoch over trainsub.* in a fresh process: wall, training seconds (its own log), peak MiB."""
    config = scratch / "whole.yaml"
    text = CONFIG.read_text(encoding="utf-8").replace('train: "train"', 'train: "trainsub"')
    text = text.replace("epochs: 30", "epochs: 1").replace('model_dir: "model"', 'model_dir: "whole"')
    config.write_text(text, encoding="utf-8")
    shutil.rmtree(scratch / "whole", ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "CUDA_VISIBLE_DEVICES": ""}
    wall, memory, status = measured([joey_python, "-m", "joeynmt", "train", str(config), "--skip-test"], scratch, env,
                                    scratch / "whole-console.txt")
    log = (scratch / "whole" / "train.log").read_text(encoding="utf-8", errors="replace") if status == 0 else ""
    if not (epoch := EPOCH_DONE.search(log)):
        tail = (scratch / "whole-console.txt").read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"JoeyNMT's one-epoch run failed or logged no epoch (exit {status}):\n{tail}")
    return {"wall": wall, "training": float(epoch.group(2)), "tokens": int(epoch.group(1)), "memory_mib": memory}


def s2s_whole_process(data_dir: Path, scratch: Path, pairs: int, index: int) -> dict:
    """s2s, the same epoch through ``s2s train`` in a fresh process (bench/startup.py's timed run)."""
    import startup

    folder = scratch / f"s2s-whole-{index}"
    folder.mkdir()
    train, val = startup.write_subset(data_dir, folder, pairs)
    parts = startup.train_round(train, val, folder, index)
    training = parts["first update"] + parts["updates after the first"]
    return {"wall": parts["whole process"], "training": training, "memory_mib": parts["peak memory MiB"]}


def whole_process_rounds(args, scratch: Path) -> dict:
    """JoeyNMT and s2s in turns, one fresh one-epoch process each per round: medians and each round's ratio."""
    joey, ours = [], []
    for round_ in range(args.rounds):
        for side in ("joeynmt", "s2s") if round_ % 2 == 0 else ("s2s", "joeynmt"):
            if side == "joeynmt":
                joey.append(joeynmt_whole_process(args.joey_python, scratch, args.threads))
            else:
                ours.append(s2s_whole_process(args.data.resolve(), scratch, args.pairs, round_))
            print(f"round {round_ + 1}: {side} whole process {(joey if side == 'joeynmt' else ours)[-1]}", flush=True)
    medians = {side: {key: statistics.median(r[key] for r in runs) for key in ("wall", "training", "memory_mib")}
               for side, runs in (("joeynmt", joey), ("s2s", ours))}
    return {"pairs": args.pairs, **medians, "wall_ratio_rounds": [j["wall"] / s["wall"] for j, s in zip(joey, ours)],
            "training_ratio_rounds": [j["training"] / s["training"] for j, s in zip(joey, ours)],
            "joeynmt_rounds": joey, "s2s_rounds": ours}


def store_result(result: dict) -> None:
    """This CPU's row in bench/JOEYNMT.json (other kinds' rows stay) and bench/JOEYNMT.md from all of them."""
    kinds = json.loads(STORE.read_text(encoding="utf-8")) if STORE.is_file() else {}
    kinds[result["cpu"]] = result
    STORE.write_text(json.dumps(kinds, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    lines = [
        "# s2s against JoeyNMT 2.3.0, same model, same CPU",
        "",
        "Written by `python bench/joeynmt_speed.py --joey-python PYTHON --rounds N` (see its docstring): the reference",
        "GRU (configs/multi30k-en-fr.yaml, full softmax; JoeyNMT: bench/joeynmt-reference-gru.yaml) trained on",
        "Multi30k by both in turns, float32, 2 threads. Target tokens/s: medians over the rounds, each round's",
        "figures in brackets; *s2s / JoeyNMT*: the median of the rounds' ratios (a round's two runs are neighbours",
        "in time, so a shared machine's slow minutes fall on both).",
        "",
        "| CPU | torch | JoeyNMT tokens/s | s2s tokens/s | s2s / JoeyNMT (rounds) | measured |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for r in kinds.values():
        joey = ", ".join(f"{x:,.0f}" for x in r["joeynmt_rounds"])
        ours = ", ".join(f"{x:,.0f}" for x in r["s2s_rounds"])
        lines.append(f"| {r['cpu']} | {r['torch']} | {r['joeynmt']:,.0f} ({joey}) | {r['s2s']:,.0f} ({ours}) | "
                     f"**{r['ratio']:.1f}×** ({', '.join(f'{x:.2f}' for x in r['ratio_rounds'])}) | {r['date']} |")
    lines += whole_process_table(kinds)
    STORE.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def whole_process_table(kinds: dict) -> list[str]:
    """The whole-process comparison's table: one row per CPU kind that has one."""
    rows = [r for r in kinds.values() if "whole" in r]
    if not rows:
        return []
    lines = [
        "", "## The whole process", "",
        "One epoch over the first 6,000 training pairs, each tool in a fresh process, in turns (medians; *×*: the",
        "median of the rounds' JoeyNMT / s2s ratios). *Training*: seconds in training updates; the rest of the wall",
        "time is start-up and shut-down. s2s starts with a cold data cache and validates once (100 pairs).",
        "",
        "| CPU | JoeyNMT wall / training / memory | s2s wall / training / memory | × whole process (rounds) | × training "
        "| measured |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        w, j, s = r["whole"], r["whole"]["joeynmt"], r["whole"]["s2s"]
        lines.append(
            f"| {r['cpu']} | {j['wall']:.1f} s / {j['training']:.1f} s / {j['memory_mib']:,.0f} MiB | "
            f"{s['wall']:.1f} s / {s['training']:.1f} s / {s['memory_mib']:,.0f} MiB | "
            f"**{statistics.median(w['wall_ratio_rounds']):.2f}×** ({', '.join(f'{x:.2f}' for x in w['wall_ratio_rounds'])}) | "
            f"{statistics.median(w['training_ratio_rounds']):.2f}× | {r['date']} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joey-python", required=True, help="Python interpreter of a JoeyNMT 2.3.0 install")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "multi30k-en-fr")
    parser.add_argument("--seconds", type=float, default=120, help="JoeyNMT's wall time per round (s2s gets half)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=6000, help="training pairs of the whole-process comparison's epoch")
    parser.add_argument("--skip-throughput", action="store_true", help="only the whole-process comparison")
    args = parser.parse_args()
    if not (args.data / "train.tsv").is_file():
        raise SystemExit(f"{args.data}: no train.tsv (Multi30k's TSVs)")
    sys.path.insert(0, str(ROOT))
    from seq2seq_cli.system import cpu_name

    if (load := os.getloadavg()[0]) > 0.5:
        print(f"warning: load average {load:.1f} before the run; other work on this CPU lowers the figures",
              file=sys.stderr)
    joey_rounds, s2s_rounds, version = [], [], "?"
    with tempfile.TemporaryDirectory(prefix="joeynmt-speed-") as scratch:
        write_plain_files(args.data.resolve(), Path(scratch), args.pairs)
        whole = whole_process_rounds(args, Path(scratch))
        for round_ in range(0 if args.skip_throughput else args.rounds):
            for side in ("joeynmt", "s2s") if round_ % 2 == 0 else ("s2s", "joeynmt"):
                if side == "joeynmt":
                    speed, intervals, version = joeynmt_speed(args.joey_python, Path(scratch), args.seconds, args.threads)
                    joey_rounds.append(speed)
                    print(f"round {round_ + 1}: JoeyNMT {version} {speed:,.0f} tokens/s ({intervals} intervals)", flush=True)
                else:
                    s2s_rounds.append(s2s_speed(args.data.resolve(), args.seconds / 2, args.threads))
                    print(f"round {round_ + 1}: s2s {s2s_rounds[-1]:,.0f} tokens/s", flush=True)
    import torch

    if args.skip_throughput:  # this CPU's throughput figures stay as last measured
        kinds = json.loads(STORE.read_text(encoding="utf-8")) if STORE.is_file() else {}
        if cpu_name() not in kinds:
            raise SystemExit(f"no throughput figures for {cpu_name()} in {STORE} to keep: run without --skip-throughput")
        store_result({**kinds[cpu_name()], "whole": whole, "date": time.strftime("%Y-%m-%d")})
        print(STORE.with_suffix(".md").read_text(encoding="utf-8"))
        return
    joey, ours = statistics.median(joey_rounds), statistics.median(s2s_rounds)
    round_ratios = [mine / theirs for mine, theirs in zip(s2s_rounds, joey_rounds)]  # each round's neighbours
    result = {"cpu": cpu_name(), "torch": torch.__version__, "joeynmt_version": version, "joeynmt": joey,
              "s2s": ours, "ratio": statistics.median(round_ratios), "ratio_rounds": round_ratios,
              "joeynmt_rounds": joey_rounds, "s2s_rounds": s2s_rounds, "whole": whole, "date": time.strftime("%Y-%m-%d")}
    store_result(result)
    print(STORE.with_suffix(".md").read_text(encoding="utf-8"))

if __name__ == "__main__":
    main()
