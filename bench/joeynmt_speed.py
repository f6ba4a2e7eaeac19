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

# JoeyNMT 2.3.0, joeynmt/training.py, TrainManager._log_scores
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


def write_plain_files(data_dir: Path, scratch: Path) -> None:
    """train.en / train.fr and the first 100 validation pairs as valsmall.*, whitespace runs made one space."""
    for name, out, limit in (("train.tsv", "train", None), ("val.tsv", "valsmall", 100)):
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
    STORE.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joey-python", required=True, help="Python interpreter of a JoeyNMT 2.3.0 install")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "multi30k-en-fr")
    parser.add_argument("--seconds", type=float, default=120, help="JoeyNMT's wall time per round (s2s gets half)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
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
        write_plain_files(args.data.resolve(), Path(scratch))
        for round_ in range(args.rounds):
            for side in ("joeynmt", "s2s") if round_ % 2 == 0 else ("s2s", "joeynmt"):
                if side == "joeynmt":
                    speed, intervals, version = joeynmt_speed(args.joey_python, Path(scratch), args.seconds, args.threads)
                    joey_rounds.append(speed)
                    print(f"round {round_ + 1}: JoeyNMT {version} {speed:,.0f} tokens/s ({intervals} intervals)", flush=True)
                else:
                    s2s_rounds.append(s2s_speed(args.data.resolve(), args.seconds / 2, args.threads))
                    print(f"round {round_ + 1}: s2s {s2s_rounds[-1]:,.0f} tokens/s", flush=True)
    import torch

    joey, ours = statistics.median(joey_rounds), statistics.median(s2s_rounds)
    round_ratios = [mine / theirs for mine, theirs in zip(s2s_rounds, joey_rounds)]  # each round's neighbours
    result = {"cpu": cpu_name(), "torch": torch.__version__, "joeynmt_version": version, "joeynmt": joey,
              "s2s": ours, "ratio": statistics.median(round_ratios), "ratio_rounds": round_ratios,
              "joeynmt_rounds": joey_rounds, "s2s_rounds": s2s_rounds, "date": time.strftime("%Y-%m-%d")}
    store_result(result)
    print(f"JoeyNMT {joey:,.0f}, s2s {ours:,.0f} target tokens/s (medians); s2s / JoeyNMT per round "
          f"{', '.join(f'{r:.2f}' for r in round_ratios)}: median {result['ratio']:.2f}× on {cpu_name()}")


if __name__ == "__main__":
    main()
