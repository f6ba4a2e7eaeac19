"""Which levers buy BLEU on Multi30k English->French within a fixed CPU time (issue 16).

    python bench/quality.py --minutes 10 [--only NAME ...] [--out bench/QUALITY.md]

Each experiment is one ``s2s train`` of ``configs/multi30k-en-fr.yaml`` (or the config it names)
with a few ``--set`` overrides, for the same wall time (``train.max_time``), choosing its
checkpoint by validation BLEU as training does. Then ``s2s evaluate --beam 5`` scores the chosen
checkpoint on val and test2016: sacreBLEU on cased, detokenised output, and BLEU by the WMT
multimodal recipe the papers report (lowercased, Moses-normalised and tokenised). Experiments are
compared by their validation BLEU only; test2016 is reported, never used to choose.

Results accumulate in OUT.json (an experiment run again replaces its row); the report gets the table
and the learning curves (validation BLEU, greedy, against minutes) in bench/quality.png. Run
nothing else on the machine meanwhile: a shared CPU means fewer steps in the same minutes.
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
MULTI30K = ROOT / "data" / "multi30k-en-fr"
sys.path.insert(0, str(ROOT / "bench"))
from bigfile import cpu_name  # noqa: E402

REFERENCE = "configs/multi30k-en-fr.yaml"
# name: (config, overrides, what it tries). Each builds on the reference GRU's settings.
EXPERIMENTS: dict[str, tuple[str, list[str], str]] = {
    "gru": (REFERENCE, [], "the reference GRU (full softmax, plateau halving)"),
    "adaptive": (REFERENCE, ["model.output=adaptive"], "adaptive softmax: the same model, twice the tokens/s"),
    "adaptive-cosine": (
        REFERENCE,
        ["model.output=adaptive", "train.lr_schedule=cosine", "train.keep_last=4"],
        "+ cosine decay to train.min_lr over the time budget (the last 4 validations kept, for averaging)",
    ),
    "adaptive-cosine-lower": (
        REFERENCE,
        ["model.output=adaptive", "train.lr_schedule=cosine", "data.lowercase=true"],
        "+ lowercased text (the WMT recipe lowercases anyway; cased BLEU is then case-insensitive)",
    ),
    "adaptive-cosine-lr2": (
        REFERENCE,
        ["model.output=adaptive", "train.lr_schedule=cosine", "train.lr=0.002", "train.warmup_steps=200"],
        "+ a higher peak rate: 0.002 after 200 warm-up steps",
    ),
    "adaptive-cosine-dropout5": (
        REFERENCE,
        ["model.output=adaptive", "train.lr_schedule=cosine", "model.dropout=0.5"],
        "+ dropout 0.5 instead of 0.3",
    ),
    "adaptive-cosine-bpe": (
        REFERENCE,
        ["model.output=adaptive", "train.lr_schedule=cosine", "data.tokenizer=sentencepiece",
         "data.sentencepiece_type=bpe", "data.vocab_size=8000", "data.max_len=80"],
        "+ sentencepiece BPE (8,000 pieces a side) instead of words",
    ),
    "gru-cosine-ls": (
        REFERENCE,
        ["train.lr_schedule=cosine", "train.label_smoothing=0.1"],
        "full softmax (no adaptive), cosine, label smoothing 0.1",
    ),
    "best": ("configs/multi30k-en-fr-best.yaml", [], "configs/multi30k-en-fr-best.yaml (the levers that won, for 60 minutes)"),
    "transformer": ("configs/multi30k-en-fr-transformer.yaml", [], "the Transformer recipe (3+3 layers, BPE 8k, inverse sqrt)"),
    "transformer-cosine": (
        "configs/multi30k-en-fr-transformer.yaml",
        ["train.lr_schedule=cosine", "train.lr=0.002"],
        "the Transformer with cosine decay over the budget from a peak of 0.002 (600 warm-up steps)",
    ),
}


def overrides(pairs: list[str]) -> list[str]:
    return [arg for pair in pairs for arg in ("--set", pair)]


def run_experiment(name: str, minutes: float, runs: Path) -> dict:
    """Train one experiment for ``minutes`` and score its chosen checkpoint on val and test2016."""
    config, settings, _ = EXPERIMENTS[name]
    budget = [f"train.max_time={minutes:g}m", f"train.runs_dir={runs}", f"train.name={name}", "train.epochs=1000"]
    subprocess.run([sys.executable, "-m", "seq2seq_cli", "train", "-c", config, *overrides(settings + budget)],
                   cwd=ROOT, check=True)
    run = runs / name
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    scored = {}
    for split in ("val", "test2016"):
        subprocess.run([sys.executable, "-m", "seq2seq_cli", "evaluate", "--run", str(run), "--beam", "5",
                        "--data", str(MULTI30K / f"{split}.tsv"), "--lang", "fr"], cwd=ROOT, check=True)
        scored[split] = json.loads((run / f"{split}.eval.json").read_text())
    last = metrics[-1]
    return {
        "name": name, "minutes": minutes, "steps": last["step"], "epochs": last["epoch"],
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),  # the shared VM's speed changes from day to day
        "tokens_per_s": statistics_mean([m["tokens_per_s"] for m in metrics]),
        "curve": [(m["elapsed"] / 60, m["val_bleu"]) for m in metrics if m.get("val_bleu") is not None],
        "best_val_bleu_greedy": max((m["val_bleu"] for m in metrics if m.get("val_bleu") is not None), default=None),
        "val": {k: scored["val"][k] for k in ("bleu", "chrf", "wmt_bleu")},
        "test2016": {k: scored["test2016"][k] for k in ("bleu", "chrf", "wmt_bleu", "sentences_per_s")},
        "cpu": cpu_name(),
    }


def statistics_mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="Training wall time per experiment.")
    parser.add_argument("--only", nargs="+", choices=list(EXPERIMENTS), default=list(EXPERIMENTS))
    parser.add_argument("--runs", type=Path, default=None, help="Keep the runs here (default: a temporary folder).")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "QUALITY.md")
    args = parser.parse_args()
    if not (MULTI30K / "train.tsv").is_file():
        sys.exit(f"error: {MULTI30K}/train.tsv is missing: this benchmark needs Multi30k")
    saved = args.out.with_suffix(".json")
    rows = json.loads(saved.read_text()) if saved.is_file() else []
    with tempfile.TemporaryDirectory() as folder:
        runs = args.runs or Path(folder)
        for name in args.only:
            row = run_experiment(name, args.minutes, runs)
            rows = [r for r in rows if (r["name"], r["minutes"]) != (name, args.minutes)] + [row]
            saved.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
            print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)
    write_report(rows, args.out)


def write_report(rows: list[dict], out: Path) -> None:
    lines = [
        "# Quality within a CPU budget: Multi30k English→French",
        "",
        "Made by `python bench/quality.py --minutes M --only NAME...`; each row one `s2s train` of that many "
        "minutes, its checkpoint chosen by validation BLEU, then `s2s evaluate --beam 5` on val and test2016. "
        "*BLEU*: sacreBLEU on cased, detokenised output; *WMT*: the WMT multimodal recipe the papers report "
        "(lowercase, Moses punctuation normalisation and tokenisation, BLEU over the tokens). Experiments are "
        "compared by validation BLEU only. *sent/s*: beam-5 decoding speed on test2016.",
        "",
        "| experiment | what it tries | minutes | steps | epochs | tokens/s | val BLEU / WMT "
        "| test2016 BLEU / WMT | chrF | sent/s | CPU | finished |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in sorted(rows, key=lambda r: (r["minutes"], list(EXPERIMENTS).index(r["name"]) if r["name"] in EXPERIMENTS else 99)):
        what = EXPERIMENTS[r["name"]][2] if r["name"] in EXPERIMENTS else ""
        lines.append(
            f"| {r['name']} | {what} | {r['minutes']:g} | {r['steps']:,} | {r['epochs']} | {r['tokens_per_s']:,.0f} "
            f"| {r['val']['bleu']:.2f} / {r['val']['wmt_bleu']:.2f} | {r['test2016']['bleu']:.2f} / "
            f"{r['test2016']['wmt_bleu']:.2f} | {r['test2016']['chrf']:.1f} | {r['test2016']['sentences_per_s']:.0f} "
            f"| {r['cpu']} | {r.get('measured', '—')} |"
        )
    lines += ["", "![validation BLEU against minutes](quality.png)", ""]
    marker = "<!-- reading -->"
    previous = out.read_text(encoding="utf-8") if out.is_file() else ""
    reading = previous[previous.index(marker):] if marker in previous else marker + "\n"
    out.write_text("\n".join(lines) + "\n" + reading, encoding="utf-8")
    plot(rows, out.parent / "quality.png")
    print(f"wrote {out}")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for r in rows:
        minutes, bleu = zip(*r["curve"]) if r["curve"] else ((), ())
        axes.plot(minutes, bleu, "o-", markersize=3, label=f"{r['name']} ({r['minutes']:g} min)")
    axes.set(xlabel="minutes of training", ylabel="validation BLEU (greedy, during training)",
             title="Multi30k en→fr: validation BLEU against CPU minutes")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
