"""bf16 against float32 CPU training, output layer by output layer (issue 18): tokens/s, peak memory, profile.

    python bench/amx_check.py --data data/multi30k-en-fr [--seconds 30] [--threads 2]

For the reference GRU (configs/multi30k-en-fr.yaml) with the full and with the adaptive softmax,
trains in float32 and in bf16 autocast (train.precision: bf16), each case in a fresh process so
that its peak memory (VmHWM) is its own, with the same batches (bench/run.py's
``training_throughput``). Prints a Markdown table with the ratios, the CPU and its matrix peaks,
and the operators that take the most time in bf16. Where the CPU has AMX, this is where bf16
should pay; elsewhere it shows what emulated bf16 costs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = {"full softmax": [], "adaptive softmax": ["model.output=adaptive"]}
PRECISIONS = ("fp32", "bf16")


def peak_memory_mib() -> float:
    """This process's peak resident memory (VmHWM), which a child does not inherit from its parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_case(output: str, precision: str, data: Path, seconds: float, threads: int) -> dict:
    """One (output layer, precision) case, in this process."""
    import torch

    sys.path.insert(0, str(ROOT / "bench"))
    from run import CONFIG, training_throughput

    from seq2seq_cli.config import load_config
    from seq2seq_cli.data.prepare import prepare_data

    torch.set_num_threads(threads)
    overrides = [f"data.train={data / 'train.tsv'}", f"data.val={data / 'val.tsv'}", f"train.precision={precision}",
                 *OUTPUTS[output]]
    config = load_config(CONFIG, overrides)
    result = training_throughput(config, prepare_data(config), seconds)
    return {"output": output, "precision": precision, "tokens_per_s": result["tokens_per_s"], "steps": result["steps"],
            "peak_mib": peak_memory_mib(), "profile": result["profile"][:8]}


def run_case(output: str, precision: str, args) -> dict:
    command = [sys.executable, __file__, "--case", output, precision, "--data", str(args.data),
               "--seconds", str(args.seconds), "--threads", str(args.threads)]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if finished.returncode != 0:
        sys.exit(f"{output}, {precision} failed:\n{finished.stderr[-2000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def machine(threads: int) -> str:
    import torch

    sys.path.insert(0, str(ROOT))
    from seq2seq_cli.system import cpu_model, has_amx, matmul_gflops

    torch.set_num_threads(threads)
    name = cpu_model()[0]
    fp32, bf16 = matmul_gflops(torch.float32), matmul_gflops(torch.bfloat16)
    return (f"{name}; AMX: {'yes' if has_amx() else 'no'}; {threads} threads; torch {torch.__version__}; "
            f"torch.mm 1024²: {fp32:.0f} GFLOP/s float32, {bf16:.0f} GFLOP/s bf16 ({bf16 / fp32:.1f}×)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "multi30k-en-fr")
    parser.add_argument("--seconds", type=float, default=30.0, help="training time per case")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--outputs", nargs="+", choices=list(OUTPUTS), default=list(OUTPUTS))
    parser.add_argument("--case", nargs=2, metavar=("OUTPUT", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(measure_case(*args.case, args.data, args.seconds, args.threads)))
        return
    print(machine(args.threads), flush=True)
    print("\n| output layer | precision | target tokens/s | bf16 / fp32 | peak memory | bf16 / fp32 |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    profiles = {}
    for output in args.outputs:
        cases = {p: run_case(output, p, args) for p in PRECISIONS}
        for precision, case in cases.items():
            speed = case["tokens_per_s"] / cases["fp32"]["tokens_per_s"]
            memory = case["peak_mib"] / cases["fp32"]["peak_mib"]
            print(f"| {output} | {precision} | {case['tokens_per_s']:,.0f} | {speed:.2f}× | {case['peak_mib']:,.0f} MiB "
                  f"| {memory:.2f}× |", flush=True)
            profiles[(output, precision)] = case["profile"]
    for (output, precision), profile in profiles.items():
        print(f"\n{output}, {precision}: " + "; ".join(f"{key} {share:.0%} ({count})" for key, share, count in profile))


if __name__ == "__main__":
    main()
