"""s2s's CPU benchmark: every speed and memory figure of issue 5, measured in one run on one machine.

    python bench/run.py --data data/multi30k-en-fr [--minutes 15] [--variants "full softmax"] [--runs DIR]

It measures, for the reference GRU model (configs/multi30k-en-fr.yaml), and again for the same
model with the adaptive softmax output layer (model.output: adaptive); on request (--variants) also
in bf16 autocast (train.precision: bf16):
  * training throughput (target tokens/s) and its achieved FLOP rate, as a share of this
    machine's measured matrix-multiply peak (torch.mm at the same thread count);
  * the notebook's one-sentence-at-a-time loop on the same model, as the floor;
  * validation BLEU against wall time and peak memory of a time-budgeted `s2s train` run;
  * greedy and beam-5 decoding throughput and BLEU on test2016;
  * start-up time of `s2s --help` and of a one-sentence `s2s translate`.
and writes the full report to bench/RESULTS-<cpu>.md (one file per CPU kind, e.g. RESULTS-amd-epyc.md)
and bench/bleu_vs_time-<cpu>.png, and its summary row into bench/RESULTS.json, from which bench/RESULTS.md
is rewritten: one table with a row per CPU kind and output layer, so a run on one kind of machine
never erases the other's figures. Timings are medians where repeated.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seq2seq_cli.config import load_config  # noqa: E402
from seq2seq_cli.data.batches import bucketed_batches, collate  # noqa: E402
from seq2seq_cli.data.prepare import prepare_data  # noqa: E402
from seq2seq_cli.data.text import Vocab  # noqa: E402
from seq2seq_cli.models.attention import Memory  # noqa: E402
from seq2seq_cli.models.seq2seq import build_model  # noqa: E402
from seq2seq_cli.system import cpu_name  # noqa: E402
from seq2seq_cli.training.adam import Adam  # noqa: E402
from seq2seq_cli.training.validation import batch_loss  # noqa: E402

CONFIG = ROOT / "configs" / "multi30k-en-fr.yaml"
S2S = [sys.executable, "-m", "seq2seq_cli"]


def matmul_peak_gflops(threads: int, size: int = 2048, repeats: int = 20, dtype: torch.dtype = torch.float32) -> float:
    """The best sustained torch.mm rate at this thread count: the yardstick for training (float32), and
    what bf16 could reach (many times float32 on AMX units, a fraction of it on CPUs without bf16 units)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


def training_throughput(config, data, seconds: float) -> dict:
    """Target tokens/s of real training steps (bucketed batches, Adam, clipping), and FLOPs per token."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = build_model(config.model, len(data.src_vocab), len(data.tgt_vocab), config.data.max_len).train()
    optimizer = Adam(model.parameters(), lr=config.train.lr)
    batches = bucketed_batches(data.train, config.train.batch_size, random.Random(0), config.train.batch_tokens)

    def step(batch) -> int:
        with autocast(config):
            loss, n_tokens = batch_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        (loss / n_tokens).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.clip_grad)
        optimizer.step()
        return n_tokens

    prepared = [collate([data.train[i] for i in ids]) for ids in batches]
    counter = FlopCounterMode(display=False)
    with counter:  # per token they vary with batch shapes: 23.5-25.1 MFLOP over groups of 5 batches, within 1.6% over 20
        counted_tokens = sum(step(b) for b in prepared[:FLOP_SAMPLE])
    flops_per_token = counter.get_total_flops() / counted_tokens
    # A shared VM's speed drifts by tens of percent within minutes, so each stretch of these very steps is
    # set against the peak sampled at its two ends (their mean), and the share is the median stretch's.
    tokens, elapsed, index = 0, 0.0, FLOP_SAMPLE
    peaks, shares = [matmul_peak_gflops(torch.get_num_threads(), repeats=5)], []
    while elapsed < seconds:
        stretch_start, stretch, stretch_tokens = time.perf_counter(), min(PEAK_EVERY_S, seconds - elapsed), 0
        while time.perf_counter() - stretch_start < stretch:
            stretch_tokens += step(prepared[index % len(prepared)])
            index += 1
        stretch_seconds = time.perf_counter() - stretch_start
        tokens, elapsed = tokens + stretch_tokens, elapsed + stretch_seconds
        peaks.append(matmul_peak_gflops(torch.get_num_threads(), repeats=5))
        achieved = stretch_tokens * flops_per_token / stretch_seconds / 1e9
        shares.append(achieved / statistics.mean(peaks[-2:]))
    return {"tokens_per_s": tokens / elapsed, "flops_per_token": flops_per_token, "steps": index - FLOP_SAMPLE,
            "peak": statistics.median(peaks), "peaks": peaks, "peak_share": statistics.median(shares), "shares": shares,
            "profile": _profile(lambda: [step(b) for b in prepared[5:25]])}


PEAK_EVERY_S = 10.0  # seconds of training between two samples of the matmul peak
FLOP_SAMPLE = 20  # batches whose FLOPs are counted (and that warm up): the measurement starts after them


def _profile(work) -> list[tuple[str, float, int]]:
    """Where training time goes: the operators with the most self CPU time, as shares."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as trace:
        work()
    events = sorted(trace.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events)
    return [(e.key, e.self_cpu_time_total / total, e.count) for e in events[:12]]


def notebook_loop_throughput(config, data, seconds: float) -> float:
    """The teaching notebook's loop on the same model: one sentence per update, the encoder one
    token at a time (each direction of the bidirectional GRU through a GRUCell sharing its
    weights), the decoder one word at a time. Always float32, as the notebook trained: under
    autocast the loop's many tiny operations get slower, which would flatter the ratio.
    """
    torch.manual_seed(0)
    model = build_model(config.model, len(data.src_vocab), len(data.tgt_vocab), config.data.max_len).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    cells = [_cell_sharing(model.encoder.rnn, suffix) for suffix in ("", "_reverse")]
    tokens, start, index = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        example = data.train[index % len(data.train)]
        loss = _notebook_loss(model, cells, example)  # float32, as the notebook trained
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        tokens += len(example.target) + 1
        index += 1
    return tokens / (time.perf_counter() - start)


def _notebook_loss(model, cells: list[torch.nn.GRUCell], example) -> torch.Tensor:
    """One sentence's summed loss, the notebook's way: every token its own step."""
    encoder = model.encoder
    embedded = encoder.dropout(encoder.embedding(torch.tensor(example.source)))  # (src_len, embed)
    forward, backward = _read_token_by_token(cells[0], embedded), _read_token_by_token(cells[1], embedded.flip(0))
    states = encoder.merge_outputs(torch.cat([torch.stack(forward), torch.stack(backward[::-1])], -1)).unsqueeze(0)
    final = torch.tanh(encoder.bridge(torch.cat([forward[-1], backward[-1]], -1))).view(1, 1, -1)
    mask = torch.ones(1, len(example.source), dtype=torch.bool)
    memory = Memory(states, model.decoder.project_memory(states), mask)
    state, prev, loss = final, torch.tensor([Vocab.SOS]), torch.zeros(())
    for word in example.target + [Vocab.EOS]:
        log_probs, _, state = model.decoder.step(prev, state, memory)
        loss = loss - log_probs[0, word].float()
        prev = torch.tensor([word])
    return loss


def autocast(config):
    """Mixed precision as ``train.precision`` asks (bf16 pays on CPUs with AVX512-BF16 or AMX)."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.train.precision)
    return torch.autocast("cpu", dtype=dtype, enabled=dtype is not None)


def _cell_sharing(rnn: torch.nn.GRU, suffix: str) -> torch.nn.GRUCell:
    """A GRUCell that uses (not copies) one direction of the first layer of ``rnn``."""
    cell = torch.nn.GRUCell(rnn.input_size, rnn.hidden_size)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        setattr(cell, name, getattr(rnn, f"{name}_l0{suffix}"))
    return cell


def _read_token_by_token(cell: torch.nn.GRUCell, embedded: torch.Tensor) -> list[torch.Tensor]:
    hidden, outputs = torch.zeros(cell.hidden_size), []
    for vector in embedded:
        hidden = cell(vector, hidden)
        outputs.append(hidden)
    return outputs


def timed_training_run(overrides: list[str], minutes: float, runs_dir: Path, name: str) -> tuple[Path, list[dict], float]:
    """`s2s train` on the reference config with a time budget; its metrics and its peak memory (GiB)."""
    overrides = [*overrides, f"train.max_time={minutes}m", f"train.runs_dir={runs_dir}", f"train.name={name}"]
    command = [*S2S, "train", "--config", str(CONFIG), *[x for o in overrides for x in ("--set", o)]]
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    run_dir = runs_dir / name
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # The child's own high-water mark, logged at every validation. getrusage(RUSAGE_CHILDREN)
    # would report this benchmark's size instead: a child's maxrss starts from its parent's.
    peak_gib = max(r["peak_memory_mib"] for r in records) / 1024
    return run_dir, records, peak_gib


def decoding(run_dir: Path, test: Path) -> dict:
    """Greedy and beam-5 BLEU and sentences/s on the test set, batched (one warm-up pass first)."""
    from seq2seq_cli.decoding.translator import Translator
    from seq2seq_cli.evaluation import evaluate

    translator = Translator.from_run(run_dir)
    results = {}
    for beam in (1, 5):
        decoder = translator.with_decoding(beam_size=beam)
        decoder.translate(["A man is sleeping."] * 8)
        report, _ = evaluate(decoder, test)
        results[beam] = report
    return results


def startup_seconds(command: list[str], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plot_bleu_against_time(variants: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4), layout="constrained")
    for label, variant in variants.items():
        records = variant["records"]
        axes.plot([r["elapsed"] / 60 for r in records], [r["val_bleu"] for r in records], marker="o", label=label)
    axes.set_xlabel("wall time (minutes)")
    axes.set_ylabel("validation BLEU (greedy)")
    axes.set_title("s2s reference GRU on Multi30k en→fr")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def cpu_features() -> list[str]:
    """The vector and matrix extensions torch's kernels use (s2s doctor reads the same flags)."""
    from seq2seq_cli.system import FEATURES, cpu_model

    return [feature for feature in FEATURES if feature in cpu_model()[1]]


def machine() -> str:
    import sacrebleu

    return (
        f"{cpu_name()}, {torch.get_num_threads()} torch threads; Python {platform.python_version()}, "
        f"torch {torch.__version__}, sacrebleu {sacrebleu.__version__}, {platform.platform()}"
    )


# What is compared: the reference model, and the same model with the cheaper output layer.
VARIANTS = {
    "full softmax": [],
    "adaptive softmax": ["model.output=adaptive"],
    "adaptive softmax + bf16": ["model.output=adaptive", "train.precision=bf16"],  # not measured by default
}
DEFAULT_VARIANTS = "full softmax,adaptive softmax"


def variant_overrides(data_dir: Path, label: str) -> list[str]:
    """The reference config's --set keys for one variant on the Multi30k files in ``data_dir``."""
    return [f"data.train={data_dir / 'train.tsv'}", f"data.val={data_dir / 'val.tsv'}", *VARIANTS[label]]


def measure_variant(label: str, data_dir: Path, args, runs_dir: Path) -> dict:
    """Training and notebook-loop throughput, a time-budgeted training run and its decoding, for one model."""
    overrides = variant_overrides(data_dir, label)
    config = load_config(CONFIG, overrides)
    data = prepare_data(config)
    train = training_throughput(config, data, args.seconds)
    floor = notebook_loop_throughput(config, data, args.seconds / 2)
    print(f"{label}: training {train['tokens_per_s']:.0f} tok/s; notebook loop {floor:.0f} tok/s", flush=True)
    name = re.sub(r"\W+", "-", label)
    run_dir, peak_gib = runs_dir / name, None
    if (run_dir / "metrics.jsonl").is_file():  # trained by an earlier benchmark: reuse it
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        peaks = [r["peak_memory_mib"] for r in records if r.get("peak_memory_mib")]
        peak_gib = max(peaks) / 1024 if peaks else None  # logged by that run itself at every validation
    else:
        run_dir, records, peak_gib = timed_training_run(overrides, args.minutes, runs_dir, name)
    decoded = decoding(run_dir, data_dir / "test2016.tsv")
    return {"train": train, "floor": floor, "run_dir": run_dir, "records": records, "peak_gib": peak_gib, "decoded": decoded}


def main() -> None:
    parser = argparse.ArgumentParser(description="s2s CPU benchmark")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "multi30k-en-fr")
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget of the BLEU-against-time runs")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"which of {', '.join(VARIANTS)} (comma-separated)")
    parser.add_argument("--runs", type=Path, help="keep the trained runs here; a variant's run already here is reused")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each throughput measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md",
                        help="the per-CPU summary; the full report goes beside it as RESULTS-<cpu>.md")
    args = parser.parse_args()
    labels = [label.strip() for label in args.variants.split(",") if label.strip()]
    if unknown := [label for label in labels if label not in VARIANTS]:
        parser.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    data_dir = args.data.resolve()
    peak = matmul_peak_gflops(torch.get_num_threads())
    bf16_peak = matmul_peak_gflops(torch.get_num_threads(), dtype=torch.bfloat16)
    print(f"matmul peak {peak:.1f} GFLOP/s float32, {bf16_peak:.1f} bfloat16", flush=True)

    runs_dir = args.runs or Path(tempfile.mkdtemp(prefix="s2s-bench-"))
    runs_dir.mkdir(parents=True, exist_ok=True)
    try:  # temporary run folders are deleted only when everything worked
        variants = {label: measure_variant(label, data_dir, args, runs_dir) for label in labels}
        first_run = next(iter(variants.values()))["run_dir"]
        help_s = startup_seconds([*S2S, "--help"])
        translate_s = startup_seconds([*S2S, "translate", "--run", str(first_run), "A man is sleeping on a bench."])
        plot_bleu_against_time(variants, args.out.parent / f"bleu_vs_time-{cpu_slug()}.png")
        results = {"peak": peak, "bf16_peak": bf16_peak, "variants": variants, "help_s": help_s,
                   "translate_s": translate_s, "minutes": args.minutes, "joeynmt": joeynmt_tokens_per_s()}
        report = args.out.with_name(f"{args.out.stem}-{cpu_slug()}.md")
        report.write_text(render(results), encoding="utf-8")
        print(report.read_text())
        write_summary(args.out, results, report.name)
    except BaseException:
        print(f"benchmark failed; its run folders are kept in {runs_dir}", file=sys.stderr)
        raise
    if not args.runs:
        shutil.rmtree(runs_dir, ignore_errors=True)


# JoeyNMT 2.3.0 training tokens/s on the same model as the issues quote them (issues 5 and 18); a figure
# measured on this very CPU by bench/joeynmt_speed.py (bench/JOEYNMT.json) is used instead where there is one.
JOEYNMT_QUOTED = {"AMD": 1_000, "Intel": 1_900}


def joeynmt_tokens_per_s() -> tuple[float | None, str]:
    """JoeyNMT's training speed on this kind of CPU, and where the figure comes from."""
    store = ROOT / "bench" / "JOEYNMT.json"
    measured = json.loads(store.read_text(encoding="utf-8")).get(cpu_name()) if store.is_file() else None
    if measured:
        return measured["joeynmt"], f"measured on this CPU by bench/joeynmt_speed.py on {measured['date']}"
    quoted = next((speed for vendor, speed in JOEYNMT_QUOTED.items() if vendor in cpu_name()), None)
    return quoted, "quoted by issues 5 and 18, not measured on this CPU"


def cpu_slug() -> str:
    """The CPU kind as a file-name part: 'AMD EPYC' -> 'amd-epyc'."""
    return re.sub(r"[^a-z0-9]+", "-", cpu_name().lower().replace("(r)", "")).strip("-")


def joeynmt_line(speed: float | None, source: str) -> str:
    """JoeyNMT's training speed for the report, with where it comes from."""
    return f"{speed:,.0f} target tokens/s, {source}" if speed else "not known for this CPU"


def best_record(variant: dict) -> dict:
    """The validation with the highest BLEU in a variant's training log."""
    return max(variant["records"], key=lambda x: x["val_bleu"] or 0)


def summary_rows(r: dict, report: str) -> list[dict]:
    """What RESULTS.md keeps of one run: a row per output layer."""
    joey, joey_source = r["joeynmt"]
    rows = []
    for label, v in r["variants"].items():
        train, beam = v["train"], v["decoded"][5]
        best = best_record(v)
        rows.append({
            "variant": label, "date": time.strftime("%Y-%m-%d"), "report": report,
            "fp32_peak": train["peak"], "bf16_peak": r["bf16_peak"], "tokens_per_s": train["tokens_per_s"],
            "peak_share": train["peak_share"],
            "joeynmt": joey, "joeynmt_source": joey_source, "beam5_per_s": beam.sentences_per_s, "peak_gib": v["peak_gib"],
            "best_bleu": best["val_bleu"], "best_minutes": best["elapsed"] / 60,
        })
    return rows


def write_summary(path: Path, r: dict, report: str) -> None:
    """Replace this CPU kind's rows in RESULTS.json (other kinds' rows stay) and rewrite RESULTS.md from it."""
    store = path.with_suffix(".json")
    kinds = json.loads(store.read_text(encoding="utf-8")) if store.is_file() else {}
    kinds[cpu_name()] = {"features": cpu_features(), "torch": torch.__version__, "rows": summary_rows(r, report)}
    store.write_text(json.dumps(kinds, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    path.write_text(render_summary(kinds), encoding="utf-8")


def render_summary(kinds: dict) -> str:
    def cell(value, form: str) -> str:
        return "—" if value is None else format(value, form)

    lines = [
        "# s2s CPU benchmark, per kind of CPU",
        "",
        "Written by `python bench/run.py --data data/multi30k-en-fr`, which replaces the rows of the CPU it runs",
        "on and keeps the others (bench/RESULTS.json). Each row links to that run's full report. Model:",
        "`configs/multi30k-en-fr.yaml` with each output layer, float32, 2 threads. *% of peak*: achieved FLOP rate of",
        "training over the float32 `torch.mm` peak: each 10-second stretch of training against the peak sampled at",
        "its two ends, the median stretch's share (rows measured before 2026-11-28 13:30 set the whole measurement",
        "against one peak: the median of samples, or before 2026-11-28 12:00 one sample beforehand), the median fp32 peak shown.",
        "*× JoeyNMT*: against JoeyNMT 2.3.0 on the same model on",
        "that kind of machine: JoeyNMT's figure measured there by bench/joeynmt_speed.py where bench/JOEYNMT.md has a",
        "row for it (whose ratio, from runs taking turns, is the sounder one), otherwise the issues' quoted figure.",
        "Targets (issue 18): ≥ 50% of the float32 peak, ≥ 3× JoeyNMT.",
        "",
        "| CPU | features | torch | matmul peak fp32 / bf16 (GFLOP/s) | output layer | training tokens/s | % of peak "
        "| × JoeyNMT | beam-5 sentences/s | peak memory | best val BLEU (min) | measured | report |",
        "| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for name, kind in kinds.items():
        for row in kind["rows"]:
            joey = f"{row['tokens_per_s'] / row['joeynmt']:.1f}×" if row["joeynmt"] else "—"
            memory = f"{row['peak_gib']:.2f} GiB" if row["peak_gib"] is not None else "—"
            lines.append(
                f"| {name} | {', '.join(kind['features']) or '—'} | {kind['torch']} | {cell(row['fp32_peak'], ',.0f')} / "
                f"{cell(row['bf16_peak'], ',.0f')} | {row['variant']} | {row['tokens_per_s']:,.0f} | "
                f"{100 * row['peak_share']:.0f}% | {joey} | {row['beam5_per_s']:,.0f} | {memory} | "
                f"{row['best_bleu']:.2f} ({row['best_minutes']:.1f}) | {row['date']} | [{row['report']}]({row['report']}) |"
            )
    return "\n".join(lines) + "\n"


TARGETS = {
    "training throughput": "≥ 3× JoeyNMT's training speed on this CPU (issue 18)",
    "achieved FLOP rate": "≥ 50% of the float32 peak (issue 18)",
    "notebook loop on the same model (one sentence an update, one token a step)": "≥ 50×",
    "peak training memory": "≤ 1.28 GiB (JoeyNMT)",
    "greedy decoding, test2016": "JoeyNMT: 122 sentences/s",
    "beam-5 decoding, test2016": "≥ 2× JoeyNMT's 49 → ≥ 98",
    "best validation BLEU": "",
}


def variant_cells(v: dict) -> dict[str, str]:
    """One column of the results table."""
    train, greedy, beam = v["train"], v["decoded"][1], v["decoded"][5]
    achieved, shares = train["tokens_per_s"] * train["flops_per_token"] / 1e9, train["shares"]
    best = best_record(v)
    return dict(zip(TARGETS, [
        f"{train['tokens_per_s']:,.0f} target tokens/s",
        f"{achieved:.1f} GFLOP/s; {100 * train['peak_share']:.0f}% of the peak in the median {PEAK_EVERY_S:.0f}-second "
        f"stretch ({100 * min(shares):.0f}–{100 * max(shares):.0f}% over {len(shares)}), the peak sampled at each "
        f"stretch's ends: {min(train['peaks']):.0f}–{max(train['peaks']):.0f} GFLOP/s; "
        f"{train['flops_per_token'] / 1e6:.1f} MFLOP per target token",
        f"{v['floor']:,.0f} target tokens/s; s2s is {train['tokens_per_s'] / v['floor']:.1f}× faster",
        f"{v['peak_gib']:.2f} GiB" if v["peak_gib"] is not None else "not measured (run reused)",
        f"{greedy.sentences_per_s:,.0f} sentences/s, BLEU {greedy.bleu:.2f}",
        f"{beam.sentences_per_s:,.0f} sentences/s, BLEU {beam.bleu:.2f}, chrF {beam.chrf:.1f}",
        f"{best['val_bleu']:.2f} after {best['elapsed'] / 60:.1f} min (epoch {best['epoch']}, step {best['step']})",
    ]))


def render(r: dict) -> str:
    variants = r["variants"]
    columns = {label: variant_cells(v) for label, v in variants.items()}
    lines = [
        "# s2s CPU benchmark",
        "",
        f"Written by `python bench/run.py` on {time.strftime('%Y-%m-%d')}. Machine: {machine()}.",
        "Model: `configs/multi30k-en-fr.yaml` (bidirectional GRU, hidden 256, Bahdanau attention, 10k vocabularies): "
        "the reference model with its full softmax, and the same model with `model.output: adaptive` "
        "(cutoffs 2000/6000); `+ bf16` trains with `train.precision: bf16` (autocast; the GRUs stay float32, "
        "and the FLOP share is still of the float32 peak). The notebook loop always runs in float32. "
        "For the BLEU-against-time curve each trained for "
        + ", ".join(f"{v['records'][-1]['elapsed'] / 60:.0f} minutes ({label})" for label, v in variants.items())
        + ". ",
        f"Matrix-multiply peaks: {r['peak']:.0f} GFLOP/s float32, {r['bf16_peak']:.0f} GFLOP/s bfloat16 "
        f"(torch.mm, 2048², {torch.get_num_threads()} threads; CPU features: {', '.join(cpu_features()) or 'none'}). "
        f"JoeyNMT 2.3.0's training speed: {joeynmt_line(*r['joeynmt'])}; its decoding figures are the AMD EPYC's "
        "from issue 5. "
        "Peak memory is the training process's own high-water mark (VmHWM), logged at every validation.",
        "",
        f"| measure | {' | '.join(columns)} | target / reference |",
        f"| --- | {' | '.join('---' for _ in columns)} | --- |",
        *[f"| {m} | {' | '.join(c[m] for c in columns.values())} | {t} |" for m, t in TARGETS.items()],
        f"| `s2s --help` | {r['help_s']:.2f} s | | ≤ 0.3 s |",
        f"| one-sentence `s2s translate` | {r['translate_s']:.2f} s | | ≤ 2 s |",
    ]
    for label, v in variants.items():
        lines += [
            "",
            f"## {label}: validation BLEU against wall time (`bench/bleu_vs_time-{cpu_slug()}.png`)",
            "",
            "| minutes | epoch | step | val BLEU | val loss | tokens/s |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
            *[f"| {x['elapsed'] / 60:.1f} | {x['epoch']} | {x['step']} | {x['val_bleu']:.2f} | {x['val_loss']:.3f} "
              f"| {x['tokens_per_s']:,.0f} |"
              for x in v["records"]],
            "",
            f"Where {label} training time goes (torch.profiler, 20 training steps, self CPU time):",
            "",
            "| operator | share | calls |",
            "| --- | ---: | ---: |",
            *[f"| `{name}` | {100 * share:.1f}% | {count} |" for name, share, count in v["train"]["profile"]],
        ]
    lines += ["", f"BLEU signature: `{next(iter(variants.values()))['decoded'][5].bleu_signature}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
