"""Which levers buy BLEU on Multi30k English->French within a fixed CPU time (issue 16).

    python bench/quality.py --minutes 10 [--only NAME ...] [--out bench/QUALITY.md]
    python bench/quality.py --minutes 30 --ensemble tiny tiny-seed2 --runs DIR   # score an ensemble of runs in DIR

Each experiment is one ``s2s train`` of ``configs/multi30k-en-fr.yaml`` (or the config it names)
with a few ``--set`` overrides, for the same wall time (``train.max_time``), choosing its
checkpoint by validation BLEU as training does. Then ``s2s evaluate --beam 5`` scores the chosen
checkpoint on val and test2016: sacreBLEU on cased, detokenised output, and BLEU by the WMT
multimodal recipe the papers report (lowercased, Moses-normalised and tokenised). Experiments are
compared by their validation BLEU only; test2016 is reported, never used to choose. An experiment
that keeps its last validations (``AVERAGED``) is then averaged with ``s2s average --last N`` for
each N listed: each average becomes the run's default checkpoint only when it wins on validation.
``--ensemble`` scores runs already trained in ``--runs`` decoded together (``--ensemble RUN:CHECKPOINT``,
each its default checkpoint); its row's minutes are the members' minutes added up.

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
    "tiny": ("configs/multi30k-en-fr-tiny.yaml", [], "Transformer-Tiny (Wu et al. 2021): 4+4 layers, width 128, "
             "joint BPE 10k, all embeddings shared, dropout 0.3, cosine over the budget"),
    "tiny-seed2": ("configs/multi30k-en-fr-tiny.yaml", ["train.seed=2"], "Transformer-Tiny, another seed (an ensemble member)"),
    "transformer-cosine": (
        "configs/multi30k-en-fr-transformer.yaml",
        ["train.lr_schedule=cosine", "train.lr=0.002"],
        "the Transformer with cosine decay over the budget from a peak of 0.002 (600 warm-up steps)",
    ),
}


# Experiments whose last validations are averaged before scoring: the N of ``s2s average --last N`` to try.
AVERAGED = {"tiny": [3, 5, 10], "tiny-seed2": [3, 5, 10]}


def overrides(pairs: list[str]) -> list[str]:
    return [arg for pair in pairs for arg in ("--set", pair)]


def s2s(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "seq2seq_cli", *args], cwd=ROOT, check=True)


def run_experiment(name: str, minutes: float, runs: Path) -> dict:
    """Train one experiment for ``minutes`` and score its chosen checkpoint on val and test2016."""
    config, settings, _ = EXPERIMENTS[name]
    budget = [f"train.max_time={minutes:g}m", f"train.runs_dir={runs}", f"train.name={name}", "train.epochs=1000"]
    s2s("train", "-c", config, *overrides(settings + budget))
    return score_run(name, minutes, runs / name)


def score_run(name: str, minutes: float, run: Path) -> dict:
    """A trained run's row: averaged first where ``AVERAGED`` says, then its default checkpoint scored."""
    for last in AVERAGED.get(name, []):
        s2s("average", "--run", str(run), "--last", str(last))  # the average becomes the default if it wins on val
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = metrics[-1]
    return {
        "name": name, "minutes": minutes, "steps": last["step"], "epochs": last["epoch"],
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),  # the shared VM's speed changes from day to day
        "tokens_per_s": statistics_mean([m["tokens_per_s"] for m in metrics]),
        "curve": [(m["elapsed"] / 60, m["val_bleu"]) for m in metrics if m.get("val_bleu") is not None],
        "best_val_bleu_greedy": max((m["val_bleu"] for m in metrics if m.get("val_bleu") is not None), default=None),
        "checkpoint": default_checkpoint(run), **scores(["--run", str(run)], run, "eval"), "cpu": cpu_name(),
    }


def default_checkpoint(run: Path) -> str:
    record = run / "default.json"
    return json.loads(record.read_text())["checkpoint"] if record.is_file() else "best.pt"


def scores(model: list[str], run: Path, stem: str) -> dict:
    """Beam-5 scores on val and test2016 of ``model`` (``--run X`` or ``--ensemble``s); outputs in ``run``."""
    scored = {}
    for split in ("val", "test2016"):
        s2s("evaluate", *model, "--beam", "5", "--data", str(MULTI30K / f"{split}.tsv"), "--lang", "fr")
        scored[split] = json.loads((run / f"{split}.{stem}.json").read_text())
    return {"val": {k: scored["val"][k] for k in ("bleu", "chrf", "wmt_bleu")},
            "test2016": {k: scored["test2016"][k] for k in ("bleu", "chrf", "wmt_bleu", "sentences_per_s")}}


def score_ensemble(names: list[str], minutes: float, runs: Path) -> dict:
    """Runs already trained in ``runs`` decoded as one ensemble, each with its default checkpoint."""
    members = [runs / name for name in names]
    specs = [f"{run}:{default_checkpoint(run)}" for run in members]
    row = scores([a for spec in specs for a in ("--ensemble", spec)], members[0], f"ensemble{len(members)}.eval")
    return {"name": "ensemble:" + "+".join(names), "minutes": minutes * len(names), "steps": None, "epochs": None,
            "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "tokens_per_s": None, "curve": [],
            "checkpoint": " + ".join(spec.rsplit(":", 1)[1] for spec in specs), **row, "cpu": cpu_name()}


def statistics_mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="Training wall time per experiment.")
    parser.add_argument("--only", nargs="+", choices=list(EXPERIMENTS), default=list(EXPERIMENTS))
    parser.add_argument("--runs", type=Path, default=None, help="Keep the runs here (default: a temporary folder).")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "QUALITY.md")
    parser.add_argument("--ensemble", nargs="+", metavar="NAME", help="Score these runs in --runs as one ensemble.")
    parser.add_argument("--score-only", action="store_true", help="Score the --only runs already trained in --runs.")
    args = parser.parse_args()
    if not (MULTI30K / "train.tsv").is_file():
        sys.exit(f"error: {MULTI30K}/train.tsv is missing: this benchmark needs Multi30k")
    saved = args.out.with_suffix(".json")
    rows = json.loads(saved.read_text()) if saved.is_file() else []
    with tempfile.TemporaryDirectory() as folder:
        runs = args.runs or Path(folder)
        jobs = [("+".join(args.ensemble), lambda: score_ensemble(args.ensemble, args.minutes, runs))] if args.ensemble else [
            (name, lambda name=name: score_run(name, args.minutes, runs / name) if args.score_only
             else run_experiment(name, args.minutes, runs)) for name in args.only]
        for _, job in jobs:
            row = job()
            rows = [r for r in rows if (r["name"], r["minutes"]) != (row["name"], row["minutes"])] + [row]
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
        "| experiment | what it tries | minutes | steps | epochs | tokens/s | weights | val BLEU / WMT "
        "| test2016 BLEU / WMT | chrF | sent/s | CPU | finished |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in sorted(rows, key=lambda r: (r["minutes"], list(EXPERIMENTS).index(r["name"]) if r["name"] in EXPERIMENTS else 99)):
        what = EXPERIMENTS[r["name"]][2] if r["name"] in EXPERIMENTS else "the runs named, decoded as one ensemble"
        steps, speed = (f"{r['steps']:,}", f"{r['tokens_per_s']:,.0f}") if r["steps"] else ("—", "—")
        lines.append(
            f"| {r['name']} | {what} | {r['minutes']:g} | {steps} | {r['epochs'] or '—'} | {speed} "
            f"| {r.get('checkpoint', 'best.pt')} | {r['val']['bleu']:.2f} / {r['val']['wmt_bleu']:.2f} "
            f"| {r['test2016']['bleu']:.2f} / {r['test2016']['wmt_bleu']:.2f} | {r['test2016']['chrf']:.1f} "
            f"| {r['test2016']['sentences_per_s']:.0f} | {r['cpu']} | {r.get('measured', '—')} |"
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
