"""When training validates, what it keeps, and when it stops."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import run_cli


def train_seed(tmp_path, *overrides: str):
    result = run_cli(
        "train", "-c", "configs/seed.yaml", "--set", f"train.runs_dir={tmp_path}", *[a for o in overrides for a in ("--set", o)]
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "seed"
    return run, [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()], result.stdout


def test_every_validation_logs_loss_perplexity_bleu_and_chrf(tmp_path):
    _, records, _ = train_seed(tmp_path, "train.epochs=2")
    assert set(records[0]) >= {
        "epoch", "step", "train_loss", "val_loss", "val_ppl", "val_bleu", "val_chrf", "lr", "tokens_per_s", "elapsed"
    }
    assert 50 < records[0]["peak_memory_mib"] < 8192  # this process's own high-water mark, in MiB


def test_early_stopping_counts_validations_without_improvement(tmp_path):
    _, records, output = train_seed(tmp_path, "train.epochs=30", "train.lr=0", "train.patience=2", "train.lr_decay=1")
    assert len(records) == 3
    assert "no better loss in 2 validations" in output


def test_time_budget_validates_and_saves_before_stopping(tmp_path):
    run, records, output = train_seed(tmp_path, "train.epochs=50", "train.max_time=0s")
    assert [r["step"] for r in records] == [1]
    assert "time budget of 0s used" in output
    assert (run / "best.pt").is_file() and (run / "last.pt").is_file()


def test_validate_every_n_steps_and_at_the_end(tmp_path):
    _, records, _ = train_seed(tmp_path, "train.epochs=5", "train.validate_every=2")
    assert [r["step"] for r in records] == [2, 4, 5]


def test_keep_best_n_checkpoints(tmp_path):
    run, records, _ = train_seed(tmp_path, "train.epochs=6", "train.keep_best=2", "train.best_metric=chrf")
    kept = {p.name for p in run.glob("best-step*.pt")}
    ranked = sorted(records, key=lambda r: -r["val_chrf"])[:2]  # stable: among ties the earlier stays
    assert kept == {f"best-step{r['step']}.pt" for r in ranked}


def test_learning_rate_halves_only_when_the_score_stops_rising():
    from seq2seq_cli.config import TrainConfig
    from seq2seq_cli.training.schedules import plateau_schedule

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = plateau_schedule(optimizer, TrainConfig(lr_decay=0.5, lr_patience=1))
    for score in (1.0, 2.0, 3.0):  # rising BLEU: keep the rate
        scheduler.step(score)
    assert optimizer.param_groups[0]["lr"] == 1.0
    for score in (3.0, 3.0):  # flat for longer than the patience: halve
        scheduler.step(score)
    assert optimizer.param_groups[0]["lr"] == 0.5


def test_token_budget_batches_train(tmp_path):
    _, records, _ = train_seed(tmp_path, "train.epochs=2", "train.batch_tokens=8")
    assert records[-1]["step"] > 2  # five short pairs no longer fit one batch


def test_adaptive_softmax_learns_the_seed_pairs_and_translates_through_the_same_search(tmp_path):
    from tests.conftest import SEED_PAIRS

    run, records, _ = train_seed(tmp_path, "model.output=adaptive", "model.adaptive_cutoffs=[6, 12]")
    assert records[-1]["val_chrf"] == 100.0  # three-word sentences have no 4-grams for BLEU
    for beam in ("1", "3"):
        result = run_cli("translate", "--run", str(run), "--beam", beam, "-", input="\n".join(s for s, _ in SEED_PAIRS))
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == [t for _, t in SEED_PAIRS]


def test_compile_trains_through_the_compiled_module(tmp_path, monkeypatch):
    """torch.compile is called on the model and every training step runs the graphs it traced
    (a counting backend stands in for inductor: the same tracing, none of its minutes)."""
    from seq2seq_cli.models.seq2seq import Seq2Seq

    real_compile, compiled, graph_calls = torch.compile, [], []

    def counting_backend(graph, example_inputs):
        def run(*args):
            graph_calls.append(len(args))
            return graph.forward(*args)

        return run

    def compile_(model, **kwargs):
        compiled.append(model)
        return real_compile(model, backend=counting_backend)

    torch._dynamo.reset()  # nothing traced by an earlier test is reused
    monkeypatch.setattr(torch, "compile", compile_)
    run, records, output = train_seed(tmp_path, "train.compile=true", "train.epochs=3")
    assert "training without it" not in output
    assert len(compiled) == 1 and isinstance(compiled[0], Seq2Seq)
    assert len(graph_calls) >= records[-1]["step"] == 3  # at least one traced graph ran in each step


def test_teacher_forcing_below_one_changes_training_and_the_seed_repeats_it(tmp_path):
    losses = {}
    for name, forcing in (("gold", "1.0"), ("half", "0.5"), ("half-again", "0.5")):
        _, records, _ = train_seed(tmp_path / name, f"train.teacher_forcing={forcing}", "train.epochs=4")
        losses[name] = [r["train_loss"] for r in records]
    assert losses["half"] == losses["half-again"]  # which steps read the model's own guess is seeded
    assert losses["half"] != losses["gold"]
    from seq2seq_cli import runs

    first, again = (runs.load_checkpoint(tmp_path / name / "seed" / "last.pt")["model"] for name in ("half", "half-again"))
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_without_teacher_forcing_the_decoder_reads_its_own_guesses():
    from seq2seq_cli.data.batches import pad_sources
    from tests.test_maths import VOCAB, random_sentences, tiny_model

    model = tiny_model("bahdanau")
    src, lengths = pad_sources(random_sentences(3))
    tgt_in = torch.randint(4, VOCAB, (3, 5))
    memory, state = model.encode(src, lengths)
    previous, steps = tgt_in[:, :1], []  # <sos> (here: the first input), then always the model's own argmax
    for _ in range(tgt_in.size(1)):
        features, _, state = model.decoder.features(previous, state, memory)
        steps.append(features)
        previous = model.decoder.out(features.squeeze(1)).argmax(-1, keepdim=True)
    own = model(src, lengths, tgt_in, teacher_forcing=0.0)
    torch.testing.assert_close(own, torch.cat(steps, dim=1))
    assert not torch.allclose(own, model(src, lengths, tgt_in, teacher_forcing=1.0), atol=1e-3)


def test_fp16_trains_on_the_cpu_through_the_gradient_scaler(tmp_path):
    from seq2seq_cli import runs

    run, records, _ = train_seed(tmp_path / "fp16", "train.precision=fp16", "train.epochs=4")
    fp32_run, fp32_records, _ = train_seed(tmp_path / "fp32", "train.epochs=4")
    assert records[-1]["val_loss"] < records[0]["val_loss"]
    assert [r["train_loss"] for r in records] != [r["train_loss"] for r in fp32_records]  # autocast did compute in fp16
    checkpoint = runs.load_checkpoint(run / "last.pt")
    scaler = checkpoint["trainer"]["scaler"]
    # the loss was scaled by 2^16, and each of the 4 steps was unscaled, found finite and applied
    assert scaler["scale"] == 65536.0 and scaler["_growth_tracker"] == 4
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in checkpoint["model"].values())
    assert runs.load_checkpoint(fp32_run / "last.pt")["trainer"]["scaler"] is None


def test_inverse_square_root_schedule_warms_up_then_decays(tmp_path):
    import math

    _, records, _ = train_seed(tmp_path, "train.lr_schedule=inverse-sqrt", "train.warmup_steps=4", "train.lr=0.01",
                               "train.epochs=9", "train.validate_every=1")
    assert [r["step"] for r in records] == list(range(1, 10))
    for record in records:  # the rate after s steps: lr * min((s + 1) / warmup, sqrt(warmup / (s + 1)))
        s = record["step"]
        assert record["lr"] == pytest.approx(0.01 * min((s + 1) / 4, math.sqrt(4 / (s + 1))), rel=1e-9)
    assert max(records, key=lambda r: r["lr"])["step"] == 3  # the peak, lr itself, once warm-up is done


@pytest.mark.parametrize("shape", ["cosine", "linear"])
def test_budgeted_schedules_fall_from_lr_to_min_lr_over_the_epochs(tmp_path, shape):
    import math

    _, records, _ = train_seed(tmp_path, f"train.lr_schedule={shape}", "train.lr=0.01", "train.min_lr=0.001",
                               "train.epochs=8", "train.validate_every=1")
    for record in records:  # seed.yaml: one update an epoch, so the budget is 8 steps
        spent = record["step"] / 8
        fall = 0.5 * (1 + math.cos(math.pi * spent)) if shape == "cosine" else 1 - spent
        assert record["lr"] == pytest.approx(0.001 + 0.009 * fall, rel=1e-9)
    assert records[-1]["lr"] == pytest.approx(0.001)  # the last update was the smallest


def test_a_time_budget_ends_the_cosine_schedule_at_the_floor_not_mid_flight(tmp_path):
    _, records, stdout = train_seed(tmp_path, "train.lr_schedule=cosine", "train.lr=0.01", "train.min_lr=0.0",
                                    "train.epochs=100000", "train.max_time=4s", "train.validate_every=50")
    assert "time budget of 4s used" in stdout
    assert records[-1]["step"] < 100000 / 2  # the epochs were far from spent: the clock set the rate
    assert records[-1]["lr"] < 0.01 * 0.05
    assert all(a["lr"] > b["lr"] for a, b in zip(records, records[1:]))


def test_budget_schedule_progress_is_whichever_budget_runs_out_first():
    from seq2seq_cli.config import TrainConfig
    from seq2seq_cli.training.schedules import BudgetSchedule

    settings = TrainConfig(lr_schedule="cosine", lr=1.0, min_lr=0.0, warmup_steps=10)
    schedule = BudgetSchedule(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0), settings, 1000, 60.0)
    assert schedule.progress(500, 10.0) == 0.5 and schedule.progress(100, 45.0) == 0.75
    assert schedule.progress(2000, 100.0) == 1.0
    assert schedule.rate(4, 0.0) == pytest.approx(0.5)  # warming up: (4 + 1) / 10
    assert schedule.rate(500, 0.0) == pytest.approx(0.5) and schedule.rate(999, 60.0) == pytest.approx(0.0)
