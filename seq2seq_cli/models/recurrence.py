"""A GRU layer for training on a CPU: one autograd node per layer instead of a dozen per time step.

``nn.GRU`` on a CPU runs each time step as separate autograd operations, so backward walks a
long chain of small nodes, and the recurrent weight's gradient comes from one thin product per
step. Here a whole layer is one ``torch.autograd.Function``:

- both directions of a bidirectional layer advance together, one batched product per step;
- forward keeps each step's gates in preallocated buffers; backward carries only the state's
  gradient from step to step (four operations a step) and forms every other factor, and the
  weights' gradients, as single products over all steps;
- a mask replaces packed sequences: past a sentence's end the update gate is exactly 1, so the
  state is carried unchanged and those steps' gates get exactly zero gradient.

Outputs, final states and gradients are ``nn.GRU``'s on packed input up to float rounding
(``tests/test_maths.py``). ``nn.GRU`` still does everything else: its parameters (so checkpoints
do not change), evaluation, search, autocast, torch.compile and GPUs (cuDNN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seq2seq_cli.models.cpu_training import eager_float32_cpu_training


def gru(rnn: nn.GRU, inputs: torch.Tensor, h0: torch.Tensor | None, lengths: torch.Tensor | None = None
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """``rnn`` over batch-first ``inputs``, on packed sequences when ``lengths`` is given.

    inputs: (batch, len, features); h0: (layers * dirs, batch, hidden) or None; lengths: (batch,).
    Returns outputs (batch, len, dirs * hidden), 0 past each sentence's end, and final states
    (layers * dirs, batch, hidden). Training in float32 on a CPU takes ``GRULayer``.
    """
    if eager_float32_cpu_training(inputs, rnn):
        return run_gru_layers(rnn, inputs, h0, lengths)
    if lengths is None:
        return rnn(inputs, h0)
    packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
    outputs, final = rnn(packed, h0)
    return pad_packed_sequence(outputs, batch_first=True, total_length=inputs.size(1))[0], final


def run_gru_layers(
    rnn: nn.GRU, inputs: torch.Tensor, h0: torch.Tensor | None, lengths: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``gru``'s work with ``GRULayer``, layer by layer, with ``rnn``'s parameters and dropout."""
    dirs = 2 if rnn.bidirectional else 1
    batch, steps, _ = inputs.shape
    real = None
    if lengths is not None and bool((lengths < steps).any()):
        real = torch.arange(steps).unsqueeze(1) < lengths.cpu().unsqueeze(0)  # (len, batch)
    if h0 is None:
        h0 = inputs.new_zeros(rnn.num_layers * dirs, batch, rnn.hidden_size)
    outputs, finals = inputs, []
    for layer in range(rnn.num_layers):
        if layer > 0:
            outputs = F.dropout(outputs, rnn.dropout, rnn.training)
        suffixes = [f"l{layer}", f"l{layer}_reverse"][:dirs]
        weights = [getattr(rnn, f"{kind}_{suffix}") for suffix in suffixes
                   for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        outputs, final = GRULayer.apply(outputs, real, h0[layer * dirs : (layer + 1) * dirs], *weights)
        finals.append(final)
    return outputs, torch.cat(finals)


class GRULayer(torch.autograd.Function):
    """One GRU layer, all time steps and directions: (batch, len, features) -> (batch, len, dirs * hidden).

    Arguments: inputs; real, (len, batch) True on real tokens, or None; h0, (dirs, batch, hidden);
    then weight_ih, weight_hh, bias_ih, bias_hh of each direction, as in ``nn.GRU``. Inside,
    tensors are (dirs, len, batch, ...), each direction in the order it reads (the reverse
    direction back to front), so one slice ``[:, t]`` is the step both directions take next.
    Gate order is PyTorch's: reset, update, new.
    """

    @staticmethod
    def forward(ctx, inputs, real, h0, *weights):
        dirs, (batch, steps, _) = len(weights) // 4, inputs.shape
        w_ih, w_hh, b_ih, b_hh = (torch.stack(weights[i::4]) for i in range(4))  # (dirs, ...)
        hidden = w_hh.size(-1)
        sequences = flip_reverse_direction(inputs.transpose(0, 1).expand(dirs, -1, -1, -1))  # (dirs, len, batch, in)
        gates_in = torch.baddbmm(b_ih.unsqueeze(1), sequences.flatten(1, 2), w_ih.transpose(1, 2))
        gates_in = gates_in.view(dirs, steps, batch, 3 * hidden)  # the input's share of every gate
        if real is not None:  # no input: update gate exactly 1, state carried unchanged
            padding = ~flip_reverse_direction(real.expand(dirs, -1, -1)).unsqueeze(-1)  # (dirs, len, batch, 1)
            gates_in[..., hidden : 2 * hidden].masked_fill_(padding, float("inf"))
        states = inputs.new_empty(dirs, steps + 1, batch, hidden)  # states[:, t] is the state before step t
        recurrent = inputs.new_empty(dirs, steps, batch, 3 * hidden)  # W_hh h + b_hh
        reset_update = inputs.new_empty(dirs, steps, batch, 2 * hidden)  # after the sigmoid
        new = inputs.new_empty(dirs, steps, batch, hidden)  # candidate state, after the tanh
        states[:, 0] = h0
        bias, w_hh_t = b_hh.unsqueeze(1), w_hh.transpose(1, 2).contiguous()  # a transposed view is ~1.4x slower
        # Each step's views, made once: indexing in the loop would cost more than the arithmetic.
        h, rec, ru, n = states.unbind(1), recurrent.unbind(1), reset_update.unbind(1), new.unbind(1)
        rec_ru, rec_n = recurrent[..., : 2 * hidden].unbind(1), recurrent[..., 2 * hidden :].unbind(1)
        in_ru, in_n = gates_in[..., : 2 * hidden].unbind(1), gates_in[..., 2 * hidden :].unbind(1)
        reset, update = reset_update[..., :hidden].unbind(1), reset_update[..., hidden:].unbind(1)
        for t in range(steps):  # h[t]: (dirs, batch, hidden)
            torch.baddbmm(bias, h[t], w_hh_t, out=rec[t])
            torch.add(in_ru[t], rec_ru[t], out=ru[t]).sigmoid_()
            torch.addcmul(in_n[t], reset[t], rec_n[t], out=n[t]).tanh_()
            torch.lerp(n[t], h[t], update[t], out=h[t + 1])  # (1 - update) * new + update * h
        ctx.save_for_backward(sequences, states, recurrent, reset_update, new, w_ih, w_hh, real)
        outputs = inputs.new_empty(batch, steps, dirs * hidden)  # its own memory: states is kept for backward
        outputs.view(batch, steps, dirs, hidden).copy_(flip_reverse_direction(states[:, 1:]).permute(2, 1, 0, 3))
        if real is not None:
            outputs.masked_fill_(~real.t().unsqueeze(-1), 0.0)
        return outputs, states[:, steps].clone()

    @staticmethod
    def backward(ctx, grad_outputs, grad_final):
        sequences, states, recurrent, reset_update, new, w_ih, w_hh, real = ctx.saved_tensors
        dirs, steps, batch, hidden = new.shape
        if real is not None:
            grad_outputs = grad_outputs.masked_fill(~real.t().unsqueeze(-1), 0.0)
        grad_outputs = flip_reverse_direction(grad_outputs.view(batch, steps, dirs, hidden).permute(2, 1, 0, 3))
        to_recurrent, grad_new = gate_gradient_factors(states[:, :steps], recurrent, reset_update, new)
        grad_states = new.new_empty(dirs, steps, batch, 1, hidden)  # each step's output state, all paths
        grad_recurrent = new.new_empty(dirs, steps, batch, 3 * hidden)
        g, g_3, out, factor, rec, rec_3, update = (x.unbind(1) for x in (
            grad_states.squeeze(3), grad_states, grad_outputs, to_recurrent, grad_recurrent,
            grad_recurrent.view(dirs, steps, batch, 3, hidden), reset_update[..., hidden:]))
        grad_h = grad_final
        for t in reversed(range(steps)):
            torch.add(grad_h, out[t], out=g[t])
            torch.mul(g_3[t], factor[t], out=rec_3[t])
            if t > 0 or ctx.needs_input_grad[2]:  # the first state's gradient only when h0 wants one
                grad_h = torch.baddbmm(g[t] * update[t], rec[t], w_hh)  # (dirs, batch, hidden)
        grad_gates_in = grad_recurrent.clone()  # the input's share: the same but for the new gate's
        torch.mul(grad_states.squeeze(3), grad_new, out=grad_gates_in[..., 2 * hidden :])
        grad_gates_in = grad_gates_in.view(dirs, steps * batch, 3 * hidden)
        grad_inputs = flip_reverse_direction(torch.bmm(grad_gates_in, w_ih).view(dirs, steps, batch, -1)).sum(0)
        grad_w_ih = torch.bmm(grad_gates_in.transpose(1, 2), sequences.flatten(1, 2))  # (dirs, 3 * hidden, features)
        grad_w_hh = torch.bmm(grad_recurrent.view(dirs, steps * batch, 3 * hidden).transpose(1, 2),
                              states[:, :steps].flatten(1, 2))  # (dirs, 3 * hidden, hidden)
        grad_b_ih, grad_b_hh = grad_gates_in.sum(1), grad_recurrent.sum((1, 2))
        per_direction = [g for d in range(dirs) for g in (grad_w_ih[d], grad_w_hh[d], grad_b_ih[d], grad_b_hh[d])]
        grad_h0 = grad_h if ctx.needs_input_grad[2] else None
        return grad_inputs.transpose(0, 1), None, grad_h0, *per_direction


def flip_reverse_direction(per_direction: torch.Tensor) -> torch.Tensor:
    """(dirs, len, ...) from time order to each direction's reading order, or back (its own inverse)."""
    if per_direction.size(0) == 1:
        return per_direction
    return torch.stack([per_direction[0], per_direction[1].flip(0)])


def gate_gradient_factors(
    previous: torch.Tensor, recurrent: torch.Tensor, reset_update: torch.Tensor, new: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """What a step's state gradient is multiplied by to give its gates' gradients, for all steps at once.

    With h' = (1 - u) n + u h and n = tanh(x_n + r (W_hn h + b_hn)): dn = (1 - u)(1 - n^2),
    du = (h - n) u (1 - u), dr = dn (W_hn h + b_hn) r (1 - r); the recurrent share of the new gate
    gets dn r. Returns the recurrent shares' factors, (dirs, len, batch, 3, hidden), and dn.
    Each factor is written in place: these tensors are the size of all steps' states.
    """
    hidden = new.size(-1)
    reset, update = reset_update[..., :hidden], reset_update[..., hidden:]
    factors = new.new_empty(*new.shape[:-1], 3, hidden)
    not_update = 1 - update
    grad_new = torch.addcmul(torch.ones((), dtype=new.dtype), new, new, value=-1).mul_(not_update)
    torch.mul(previous - new, not_update.mul_(update), out=factors[..., 1, :])
    reset_slope = torch.addcmul(reset, reset, reset, value=-1)  # r (1 - r)
    torch.mul(grad_new * recurrent[..., 2 * hidden :], reset_slope, out=factors[..., 0, :])
    torch.mul(grad_new, reset, out=factors[..., 2, :])
    return factors, grad_new
