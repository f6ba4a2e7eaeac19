"""When training validates, what it keeps, and when it stops."""

from __future__ import annotations

import json

import torch

from tests.conftest import run_cli


def train_seed(tmp_path, *overrides: str):
    result = run_cli("train", "-c", "configs/seed.yaml", "--set", f"train.runs_dir={tmp_path}", *[a for o in overrides for a in ("--set", o)])
    assert result.exit_code == 0, result.output
    run = tmp_path / "seed"
    return run, [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()], result.stdout


def test_every_validation_logs_loss_perplexity_bleu_and_chrf(tmp_path):
    _, records, _ = train_seed(tmp_path, "train.epochs=2")
    assert set(records[0]) >= {"epoch", "step", "train_loss", "val_loss", "val_ppl", "val_bleu", "val_chrf", "lr", "tokens_per_s", "elapsed"}
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
    from seq2seq_cli.train import _plateau_scheduler

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = _plateau_scheduler(optimizer, TrainConfig(lr_decay=0.5, lr_patience=1))
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
