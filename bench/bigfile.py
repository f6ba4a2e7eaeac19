"""Big files through `s2s translate --input --output`: memory and speed against file size.

    python bench/bigfile.py --run runs/default [--sizes 100000 1000000] [--out bench/BIGFILE.md]

For each size it writes a file of that many lines (the bundled test set's English sentences,
repeated), translates it in chunks (the default) and, for comparison, in one piece
(``--chunk`` larger than the file: every line read, sorted and translated at once, the way
s2s worked before), each in a fresh process, and records wall time, sentences/s and the
process's peak resident memory. Chunked memory should stay flat as the file grows; chunked
speed should stay within 10% of one piece.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seq2seq_cli.system import cpu_name  # noqa: E402

S2S = [sys.executable, "-m", "seq2seq_cli"]

# Runs a command and prints its peak resident memory (KiB): getrusage of the waited-for child alone.
PEAK = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); " \
       "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"


def make_file(path: Path, lines: int) -> None:
    sources = [line.split("\t")[0] for line in (ROOT / "data/en-fr/test.tsv").read_text(encoding="utf-8").splitlines()]
    with open(path, "w", encoding="utf-8") as out:
        for i in range(lines):
            out.write(sources[i % len(sources)] + "\n")


def translate(run: str, source: Path, target: Path, chunk: int | None, beam: int) -> tuple[float, float]:
    """Wall seconds and peak memory (MiB) of one `s2s translate` process."""
    options = ["--chunk", str(chunk)] if chunk else []
    command = [*S2S, "translate", "--run", run, "--input", str(source), "--output", str(target), "--quiet",
               "--beam", str(beam), *options]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, *command], cwd=ROOT, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, int(done.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="A trained run (e.g. runs/default from make demo).")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--whole-up-to", type=int, default=1_000_000, help="Largest size also translated in one piece.")
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "BIGFILE.md")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            source, target = Path(folder) / f"in{size}.txt", Path(folder) / "out.txt"
            make_file(source, size)
            modes = [("chunks of 10,000 (default)", None)]
            if size <= args.whole_up_to:
                modes.append(("one piece (--chunk > lines)", size + 1))
            for mode, chunk in modes:
                seconds, peak = translate(args.run, source, target, chunk, args.beam)
                assert sum(1 for _ in open(target, encoding="utf-8")) == size
                rows.append((size, mode, seconds, size / seconds, peak))
                print(f"{size:>9,} lines  {mode:<28} {seconds:8.1f} s  {size / seconds:8,.0f} sentences/s  "
                      f"peak {peak:8,.0f} MiB", flush=True)
    write_report(args, rows)


def write_report(args, rows) -> None:
    lines = [
        "# Big files: `s2s translate --input --output` in chunks",
        "",
        f"Measured with `python bench/bigfile.py --run {args.run} --sizes {' '.join(map(str, args.sizes))}` on "
        f"**{cpu_name()}** (2 cores), beam {args.beam}, each command in a fresh process (model loading included; "
        "peak = the process's maximum resident memory).",
        "",
        "| lines | how | wall time | sentences/s | peak memory |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for size, mode, seconds, rate, peak in rows:
        lines.append(f"| {size:,} | {mode} | {seconds:,.1f} s | {rate:,.0f} | {peak:,.0f} MiB |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
