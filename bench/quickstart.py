"""Does the Quickstart's model say what the README says, whatever the seed?

    python bench/quickstart.py [--seeds 1 2 3 4 5] [--out bench/QUICKSTART.md] [--set key=value ...]

Trains configs/default.yaml (what `make demo` trains) once per seed, translates the README's
sentences with each run as `s2s translate` does, and scores exact match on data/en-fr/test.tsv
with `s2s evaluate`. Writes a Markdown table, one row a seed, with the CPU it ran on.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seq2seq_cli.system import cpu_name  # noqa: E402

# The outputs the README promises (its Quickstart section).
README_SENTENCES = {
    "i am a student": "je suis étudiant",
    "the red car is small": "la voiture rouge est petite",
}
S2S = [sys.executable, "-m", "seq2seq_cli"]


def s2s(*arguments: str) -> str:
    result = subprocess.run([*S2S, *arguments], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"s2s {' '.join(arguments)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def check_seed(seed: int, runs_dir: Path, overrides: list[str]) -> dict:
    sets = [
        a
        for o in (f"train.seed={seed}", f"train.runs_dir={runs_dir}", f"train.name=seed{seed}", *overrides)
        for a in ("--set", o)
    ]
    start = time.perf_counter()
    s2s("train", "--config", "configs/default.yaml", *sets)
    seconds = time.perf_counter() - start
    run = str(runs_dir / f"seed{seed}")
    outputs = {sentence: s2s("translate", "--run", run, sentence).strip() for sentence in README_SENTENCES}
    s2s("evaluate", "--run", run, "--data", "data/en-fr/test.tsv", "--output", str(runs_dir / f"seed{seed}.hyp.txt"))
    report = json.loads((runs_dir / f"seed{seed}" / "test.eval.json").read_text())
    best = [json.loads(line) for line in (runs_dir / f"seed{seed}" / "metrics.jsonl").read_text().splitlines()]
    return {"seed": seed, "outputs": outputs, "exact_match": report["exact_match"], "bleu": report["bleu"],
            "train_s": seconds, "validations": len(best)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra config override")
    parser.add_argument("--out", type=Path, help="write the Markdown table here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            row = check_seed(seed, Path(scratch), args.overrides)
            right = all(row["outputs"][s] == want for s, want in README_SENTENCES.items())
            row["right"] = right
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    header = " | ".join(f"`{s}`" for s in README_SENTENCES)
    lines = [
        f"CPU: {cpu_name()}; recipe: configs/default.yaml {' '.join(args.overrides)}".rstrip(),
        "",
        f"| seed | {header} | README's outputs | test exact match | test BLEU | training s |",
        "| ---: |" + " --- |" * len(README_SENTENCES) + " :---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        outs = " | ".join(row["outputs"][s] for s in README_SENTENCES)
        lines.append(f"| {row['seed']} | {outs} | {'yes' if row['right'] else '**no**'} | "
                     f"{100 * row['exact_match']:.1f}% | {row['bleu']:.1f} | {row['train_s']:.0f} |")
    lines.append("")
    lines.append(f"{sum(r['right'] for r in rows)} of {len(rows)} seeds give the README's outputs.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
