"""s2s's own Adam and learning-rate schedules do what torch.optim's did, bit for bit, and read the
optimizer state runs saved with torch.optim, so no run changes and no old run is lost."""

import subprocess
import sys

import pytest
import torch

from seq2seq_cli.config import TrainConfig
from seq2seq_cli.training.adam import Adam
from seq2seq_cli.training.schedules import inverse_sqrt_schedule, plateau_schedule
from tests.conftest import ROOT


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Embedding(7, 5), torch.nn.Linear(5, 3), torch.nn.Linear(3, 2))
    model[0].weight.requires_grad_(False)  # a frozen part, as train.freeze leaves it
    return model


def _train(model: torch.nn.Module, optimizer, steps: int, start: int = 0) -> None:
    for step in range(start, start + steps):
        optimizer.zero_grad(set_to_none=True)
        torch.manual_seed(100 + step)
        words = torch.randint(0, 7, (4, 6))
        model(words).pow(2).mean().backward()
        optimizer.param_groups[0]["lr"] = 0.01 / (1 + step)  # the schedules set the rate between steps
        optimizer.step()


def _trained(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def test_adam_gives_the_weights_torch_fused_adam_gives_bit_for_bit():
    ours, theirs = _model(), _model()
    _train(ours, Adam(_trained(ours), lr=0.01), 12)
    _train(theirs, torch.optim.Adam(_trained(theirs), lr=0.01, fused=True), 12)
    for mine, reference in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(mine, reference)


@pytest.mark.parametrize("saver, loader", [("torch", "ours"), ("ours", "torch")])
def test_a_run_saved_with_either_optimizer_resumes_with_the_other_exactly(saver, loader):
    build = {"ours": lambda params: Adam(params, lr=0.01),
             "torch": lambda params: torch.optim.Adam(params, lr=0.01, fused=True)}
    straight = _model()
    straight_opt = build[saver](_trained(straight))
    _train(straight, straight_opt, 10)

    first = _model()
    first_opt = build[saver](_trained(first))
    _train(first, first_opt, 5)
    resumed = _model(seed=1)
    resumed.load_state_dict(first.state_dict())
    resumed_opt = build[loader](_trained(resumed))
    resumed_opt.load_state_dict(first_opt.state_dict())
    _train(resumed, resumed_opt, 5, start=5)
    for mine, reference in zip(resumed.parameters(), straight.parameters()):
        assert torch.equal(mine, reference)


def test_optimizer_state_for_another_model_is_refused_not_misapplied():
    small, other = _model(), torch.nn.Linear(5, 4)
    optimizer = Adam(_trained(small), lr=0.01)
    _train(small, optimizer, 1)
    with pytest.raises(ValueError, match="does not match"):
        Adam([other.weight], lr=0.01).load_state_dict(optimizer.state_dict())
    with pytest.raises(ValueError, match="shape"):
        Adam([other.weight, other.bias, *_trained(small)[2:]], lr=0.01).load_state_dict(
            optimizer.state_dict())


def test_zero_grad_clears_or_zeroes_gradients():
    model = _model()
    optimizer = Adam(_trained(model), lr=0.01)
    model(torch.tensor([[1, 2]])).sum().backward()
    optimizer.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in _trained(model))
    optimizer.zero_grad()
    assert all(p.grad is None for p in _trained(model))


def _sgd() -> torch.optim.SGD:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)


@pytest.mark.filterwarnings(r"ignore:Detected call of `lr_scheduler.step\(\)`")
def test_inverse_sqrt_gives_the_rates_torch_lambda_lr_gave_and_resumes_from_its_state():
    settings = TrainConfig(lr=0.5, lr_schedule="inverse-sqrt", warmup_steps=4)
    ours, theirs = _sgd(), _sgd()
    schedule = inverse_sqrt_schedule(ours, settings)
    theirs.param_groups[0]["lr"] = 0.5
    reference = torch.optim.lr_scheduler.LambdaLR(theirs, lambda s: min((s + 1) / 4, (4 / (s + 1)) ** 0.5))
    for _ in range(9):
        assert ours.param_groups[0]["lr"] == theirs.param_groups[0]["lr"]
        schedule.step()
        reference.step()
    resumed = inverse_sqrt_schedule(_sgd(), settings)
    resumed.load_state_dict(reference.state_dict())
    assert resumed.optimizer.param_groups[0]["lr"] == theirs.param_groups[0]["lr"]


def test_plateau_lowers_the_rate_as_torch_reduce_lr_on_plateau_did_and_resumes_from_its_state():
    settings = TrainConfig(lr_decay=0.5, lr_patience=1, min_lr=0.2)
    ours, theirs = _sgd(), _sgd()
    schedule = plateau_schedule(ours, settings)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(
        theirs, mode="max", factor=0.5, patience=1, min_lr=0.2, threshold=0.0, threshold_mode="abs")
    scores = [1.0, 2.0, 2.0, 2.0, 1.5, 3.0, 3.0, 3.0, 2.0, 2.0, 2.0, 2.0]
    for index, score in enumerate(scores):
        schedule.step(score)
        reference.step(score)
        assert ours.param_groups[0]["lr"] == theirs.param_groups[0]["lr"], index
        resumed = plateau_schedule(_sgd(), settings)
        resumed.load_state_dict(reference.state_dict())
        assert resumed.state_dict() == schedule.state_dict()
    assert theirs.param_groups[0]["lr"] == 0.2  # the floor was reached


def test_training_never_imports_the_compiler_front_end(tmp_path):
    """torch.optim imports torch._dynamo (about 1 s on a 2-core CPU) at its first use; s2s must not."""
    script = (
        "import sys; from tests.conftest import train_seed_run; from pathlib import Path; "
        f"train_seed_run(Path({str(tmp_path)!r}), ['train.epochs=2']); "
        "print('torch._dynamo' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
