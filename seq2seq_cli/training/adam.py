"""Adam, stepping every parameter in torch's one fused kernel, without ``torch.optim``.

Why not ``torch.optim.Adam``: building it (``add_param_group``) and every ``step`` import
``torch._dynamo``, the compiler's front end, which a training run never uses; on a 2-core
AMD EPYC that import cost 0.94 s of every ``s2s train`` (``bench/STARTUP.md``), as much as
importing torch itself. This class calls the same kernel (``torch._fused_adam_``, the one
``torch.optim.Adam(fused=True)`` calls), so the weights it produces are bit-for-bit those of
``torch.optim.Adam(fused=True)`` (``tests/test_adam.py`` pins it), and its ``state_dict`` has
torch's layout, so runs saved before it resume with it, and the other way round.

It has what training uses and no more: one parameter group, no weight decay, no AMSGrad.
``param_groups[0]["lr"]`` is where the learning-rate schedules set the rate, as with torch's.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

# what torch.optim.Adam keeps beside the parameters in a saved group (its state_dict's layout)
_GROUP_DEFAULTS = {
    "weight_decay": 0.0, "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
    "differentiable": False, "fused": True, "decoupled_weight_decay": False,
}


class Adam:
    """Adam over one group of parameters; ``zero_grad``, ``step``, ``state_dict`` and
    ``load_state_dict`` behave as ``torch.optim.Adam(params, lr, fused=True)``'s do."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        group = {"params": list(params), "lr": lr, "betas": betas, "eps": eps, **_GROUP_DEFAULTS}
        self.param_groups: list[dict] = [group]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}  # per parameter: step and moments

    @property
    def params(self) -> list[torch.nn.Parameter]:
        return self.param_groups[0]["params"]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.params:
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad.detach_().zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient, a kernel call per device and dtype."""
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        for params in _by_device_and_dtype([p for p in self.params if p.grad is not None]):
            states = [self._state(param) for param in params]
            steps = [state["step"] for state in states]
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                params, [param.grad for param in params], [state["exp_avg"] for state in states],
                [state["exp_avg_sq"] for state in states], [], steps,
                lr=float(group["lr"]), beta1=beta1, beta2=beta2, weight_decay=0.0, eps=group["eps"],
                amsgrad=False, maximize=False, grad_scale=None, found_inf=None,
            )

    def _state(self, param: torch.Tensor) -> dict[str, torch.Tensor]:
        """A parameter's step count and moments, made at its first update as torch makes them."""
        if param not in self.state:
            self.state[param] = {
                "step": torch.tensor(0.0, dtype=torch.float32, device=param.device),  # fused: float32, beside it
                "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
            }
        return self.state[param]

    def state_dict(self) -> dict:
        """torch's layout: the state keyed by each parameter's position, the group with positions for params."""
        group = {key: value for key, value in self.param_groups[0].items() if key != "params"}
        return {
            "state": {index: dict(self.state[param]) for index, param in enumerate(self.params) if param in self.state},
            "param_groups": [{**group, "params": list(range(len(self.params)))}],
        }

    def load_state_dict(self, saved: dict) -> None:
        """Moments and steps from ``state_dict`` (this class's or torch.optim.Adam's), checked against
        the parameters: a run whose model changed shape must fail here, not train on misfit moments."""
        groups = saved["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError("the saved optimizer state does not match this model's parameters")
        group = groups[0]
        params = dict(zip(group["params"], self.params))
        self.state = {params[index]: _placed(state, params[index]) for index, state in saved["state"].items()}
        self.param_groups[0].update({key: value for key, value in group.items() if key != "params"})


def _placed(state: dict, param: torch.Tensor) -> dict[str, torch.Tensor]:
    """A saved parameter state on its parameter's device: moments in its dtype, the step in float32."""
    if state["exp_avg"].shape != param.shape:
        raise ValueError(f"the saved optimizer state has shape {tuple(state['exp_avg'].shape)} "
                         f"for a parameter of shape {tuple(param.shape)}")
    placed = {key: value.to(device=param.device, dtype=param.dtype) for key, value in state.items() if key != "step"}
    placed["step"] = state["step"].to(param.device, torch.float32)
    return placed


def _by_device_and_dtype(params: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """The fused kernel takes tensors of one device and dtype per call."""
    groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for param in params:
        groups.setdefault((param.device, param.dtype), []).append(param)
    return list(groups.values())
