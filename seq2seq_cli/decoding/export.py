"""ONNX export of a run, and an engine that drives the one search with onnxruntime.

Search (search.py) only calls ``encode``, ``decoder.step`` and ``decoder.reorder_state``. The
export writes two graphs, ``encode`` and one ``decoder.step``, and ``OnnxEngine`` answers those
same calls from onnxruntime sessions, so greedy and beam search run unchanged on the exported
graphs: there is no second decode loop to drift from the first. Beam bookkeeping (reordering the
state, copying the memory per hypothesis) stays in torch: it is indexing, not arithmetic.

The graphs come from the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``):
it needs only the ``onnx`` package, traces ``nn.GRU`` (packed sequences included) into ONNX's own
GRU operator, and gives the same graph on torch 2.11 to 2.13. The dynamo exporter, torch's new
default, needs onnxscript as well and its decompositions still change from release to release.

``--int8`` applies onnxruntime's dynamic quantisation (int8 weights, activations quantised on
the fly). It quantises MatMul and Gather but not Gemm, which is what torch exports a linear layer
on a 2-D input as (the output layer of a decoder step), so Gemm nodes are first rewritten as
MatMul + Add. ONNX's GRU operator has no quantised kernel: the recurrences stay fp32.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seq2seq_cli import runs
from seq2seq_cli.data.batches import pad_sources
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.decoding.search import max_output_lengths, search
from seq2seq_cli.errors import RunError, S2SError
from seq2seq_cli.models.attention import Memory

FORMATS = ("onnx",)
ENGINES = ("torch", "onnx", "onnx-int8")
FOLDER = "onnx"
ENCODER, STEP, RECORD = "encoder.onnx", "decoder_step.onnx", "export.json"
OPSET = 17
INSTALL = 'pip install "seq2seq-cli[onnx]"'
ENCODER_INPUTS, ENCODER_OUTPUTS = ["src", "lengths"], ["values", "keys", "mask", "state"]
STEP_INPUTS, STEP_OUTPUTS = ["prev", "state", "values", "keys", "mask"], ["log_probs", "attention", "next_state"]
TOLERANCE = 1e-3  # fp32: largest |log-probability| difference accepted between torch and onnxruntime


def require_onnx() -> tuple[Any, Any]:
    """onnx and onnxruntime, or one line saying how to install them (they are an optional extra)."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise S2SError(f"ONNX export and --engine onnx need onnx and onnxruntime: {INSTALL}") from None
    return onnx, onnxruntime


def graph_file(name: str, int8: bool) -> str:
    """``encoder.onnx`` or, quantised, ``encoder.int8.onnx``."""
    return name.replace(".onnx", ".int8.onnx") if int8 else name


class EncoderGraph(nn.Module):
    """``Seq2Seq.encode`` as one graph: src (batch, src_len), lengths (batch,) -> values, keys, mask, state."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, src: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        memory, state = self.model.encode(src, lengths)
        return memory.values, memory.keys, memory.mask, state


class StepGraph(nn.Module):
    """``decoder.step`` as one graph: prev (batch,), state, memory -> log_probs (batch, vocab), attention, state."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, prev, state, values, keys, mask) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.decoder.step(prev, state, Memory(values, keys, mask))


class OnnxDecoder:
    """The decoder half of the seam: ``step`` runs the step graph, ``reorder_state`` is the model's own."""

    def __init__(self, session, decoder: nn.Module):
        self.session, self.reorder_state = session, decoder.reorder_state
        self.inputs = {i.name for i in session.get_inputs()}  # the exporter drops inputs a graph never reads

    def step(self, prev: torch.Tensor, state: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, ...]:
        feeds = dict(zip(STEP_INPUTS, (prev, state, memory.values, memory.keys, memory.mask)))
        return tuple(run_session(self.session, self.inputs, feeds))


class OnnxEngine:
    """What search drives (``encode``, ``decoder``), answered by onnxruntime sessions."""

    def __init__(self, encoder_session, step_session, decoder: nn.Module):
        self.session, self.decoder = encoder_session, OnnxDecoder(step_session, decoder)
        self.inputs = {i.name for i in encoder_session.get_inputs()}

    def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> tuple[Memory, torch.Tensor]:
        values, keys, mask, state = run_session(self.session, self.inputs, {"src": src, "lengths": lengths})
        return Memory(values, keys, mask), state


def run_session(session, inputs: set[str], feeds: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """Torch tensors in and out of one session run (numpy in between, without copies where it can)."""
    arrays = {name: np.ascontiguousarray(t.cpu().numpy()) for name, t in feeds.items() if name in inputs}
    return [torch.from_numpy(output) for output in session.run(None, arrays)]


def open_session(path: Path):
    """An onnxruntime CPU session using as many threads as torch does, so the engines compare fairly."""
    _, ort = require_onnx()
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 3  # errors only: no warnings about unused initialisers
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load_engine(run_dir: Path, decoder: nn.Module, int8: bool, checkpoint: str | None = None) -> OnnxEngine:
    """The run's exported graphs as an engine; a one-line error when there is no (matching) export."""
    require_onnx()
    checkpoint = checkpoint or runs.default_checkpoint(run_dir)
    folder = run_dir / FOLDER
    paths = [folder / graph_file(name, int8) for name in (ENCODER, STEP)]
    record = read_record(folder)
    if record is None or not all(path.is_file() and path.name in record["files"] for path in paths):
        flag = " --int8" if int8 else ""
        raise RunError(f"{run_dir} has no {'int8 ' if int8 else ''}ONNX export: run s2s export {run_dir} --format onnx{flag}")
    if record["checkpoint"] != Path(checkpoint).name:
        raise RunError(
            f"{folder} holds {record['checkpoint']}, not {checkpoint}: run s2s export {run_dir} --checkpoint {checkpoint}"
        )
    if record.get("checkpoint_stamp") != checkpoint_stamp(run_dir, checkpoint):
        raise RunError(f"{folder} was exported from an earlier {record['checkpoint']}: run s2s export {run_dir} again")
    return OnnxEngine(open_session(paths[0]), open_session(paths[1]), decoder)


def checkpoint_stamp(run_dir: Path, checkpoint: str) -> list[int]:
    """Size and modification time of the weights exported: a retrained best.pt makes the export stale."""
    stat = runs.checkpoint_path(run_dir, checkpoint).stat()
    return [stat.st_size, stat.st_mtime_ns]


def read_record(folder: Path) -> dict | None:
    path = folder / RECORD
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def with_engine(translator, run_dir: Path, engine: str, checkpoint: str | None = None):
    """The translator with search driven by ``engine``: torch (the model itself), onnx or onnx-int8."""
    if engine not in ENGINES:
        raise S2SError(f"--engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    if engine == "torch":
        return translator
    return translator.with_engine(load_engine(run_dir, translator.model.decoder, engine == "onnx-int8", checkpoint))


def export_run(run_dir: Path, fmt: str = "onnx", int8: bool = False, checkpoint: str | None = None) -> dict:
    """Write ``<run>/onnx/`` (graphs, optionally int8 ones, and export.json), checked against torch."""
    if fmt not in FORMATS:
        raise S2SError(f"--format must be {' or '.join(FORMATS)} (the only export format so far); got {fmt!r}")
    require_onnx()
    from seq2seq_cli.decoding.translator import Translator

    checkpoint = checkpoint or runs.default_checkpoint(run_dir)
    translator = Translator.from_run(run_dir, checkpoint)
    folder = run_dir / FOLDER
    folder.mkdir(exist_ok=True)
    for stale in (RECORD, graph_file(ENCODER, True), graph_file(STEP, True)):  # a failed export leaves no usable one
        (folder / stale).unlink(missing_ok=True)
    start = time.perf_counter()
    batches = example_batches(translator)
    export_encoder(translator.model, batches, folder / ENCODER)
    export_step(translator.model, batches, folder / STEP)
    record: dict[str, Any] = {
        "format": "onnx", "exporter": "torch.onnx.export(dynamo=False)", "opset": OPSET, "checkpoint": Path(checkpoint).name,
        "checkpoint_stamp": checkpoint_stamp(run_dir, checkpoint),
        "torch": torch.__version__, "onnxruntime": require_onnx()[1].__version__, "files": [ENCODER, STEP],
        "fp32": validate(translator, run_dir, int8=False),
    }
    _check_fp32(record["fp32"], folder)
    if int8:
        for name in (ENCODER, STEP):
            quantize(folder / name, folder / graph_file(name, True))
        record["files"] += [graph_file(ENCODER, True), graph_file(STEP, True)]
        record["int8"] = validate(translator, run_dir, int8=True)
    record["seconds"] = round(time.perf_counter() - start, 1)
    runs.write_text_atomically(folder / RECORD, json.dumps(record, indent=2) + "\n")
    return record


def _check_fp32(check: dict, folder: Path) -> None:
    """fp32 graphs must match torch; int8 ones are measured, not required to."""
    if check["max_log_prob_diff"] > TOLERANCE or not check["same_tokens"]:
        raise S2SError(f"{folder}: the exported graphs disagree with torch ({check}); please report it")


def example_batches(translator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Three padded batches of in-vocabulary ids that differ in batch size and length: tracing one
    and comparing shapes across them tells which dimensions are dynamic. The first is traced."""
    words = list(range(Vocab.EOS + 1, len(translator.src_vocab)))
    generator = torch.Generator().manual_seed(0)
    width = min(7, translator.config.data.max_len, translator.config.decode.max_input_len)

    def batch(lengths: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = [max(1, min(n, width)) for n in lengths]
        ids = [[words[int(i)] for i in torch.randint(len(words), (n,), generator=generator)] for n in lengths]
        return pad_sources(ids)

    return [batch([width, width - 2, 1]), batch([width, width - 1]), batch([width - 1, 2, 3])]


def dynamic_axes(names: Sequence[str], shapes: Sequence[Sequence[torch.Size]]) -> dict[str, dict[int, str]]:
    """Each tensor's dimensions whose size differs across the example runs (batch, source length, past
    steps); ``shapes[run][tensor]``. Everything else (hidden sizes, heads) stays fixed in the graph."""
    axes = {}
    for index, name in enumerate(names):
        sizes = [run[index] for run in shapes]
        axes[name] = {d: f"{name}_{d}" for d in range(len(sizes[0])) if len({s[d] for s in sizes}) > 1}
    return axes


def _encoder_io(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> list[torch.Tensor]:
    return [*batch, *EncoderGraph(model)(*batch)]


def _step_io(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], steps: int) -> list[torch.Tensor]:
    """A step's inputs and outputs after ``steps`` earlier steps (the Transformer's cache grows)."""
    memory, state = model.encode(*batch)
    prev = torch.full((batch[0].size(0),), Vocab.SOS, dtype=torch.long)
    for _ in range(steps):
        log_probs, _, state = model.decoder.step(prev, state, memory)
        prev = log_probs.argmax(-1)  # (batch,)
    inputs = [prev, state, memory.values, memory.keys, memory.mask]
    return inputs + list(model.decoder.step(*inputs[:2], memory))


@torch.no_grad()
def export_encoder(model: nn.Module, batches, path: Path) -> None:
    shapes = [[t.shape for t in _encoder_io(model, batch)] for batch in batches]
    axes = dynamic_axes(ENCODER_INPUTS + ENCODER_OUTPUTS, shapes)
    _export(EncoderGraph(model), tuple(batches[0]), path, ENCODER_INPUTS, ENCODER_OUTPUTS, axes)


@torch.no_grad()
def export_step(model: nn.Module, batches, path: Path) -> None:
    """Traced after two steps (a non-empty cache); the other examples vary batch, length and past."""
    examples = [_step_io(model, batch, steps) for batch, steps in zip(batches, (2, 1, 3))]
    axes = dynamic_axes(STEP_INPUTS + STEP_OUTPUTS, [[t.shape for t in io] for io in examples])
    _export(StepGraph(model.decoder), tuple(examples[0][:5]), path, STEP_INPUTS, STEP_OUTPUTS, axes)


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], axes: dict) -> None:
    """torch.onnx.export to a temporary file, then into place; tracer chatter silenced."""
    partial = path.with_suffix(".partial")
    with warnings.catch_warnings(), quiet_native_stderr():
        warnings.simplefilter("ignore")  # TracerWarnings about python ints, the exporter's deprecation notice
        torch.onnx.export(
            module.eval(), args, str(partial), dynamo=False, opset_version=OPSET, input_names=inputs,
            output_names=outputs, dynamic_axes={k: v for k, v in axes.items() if v}, do_constant_folding=True,
        )
    os.replace(partial, path)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Hide C++ warnings printed straight to file descriptor 2 (the exporter's missing shape inference for
    packed sequences, harmless: the graphs are checked against torch afterwards). Python errors still surface."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def quantize(source: Path, target: Path) -> None:
    """onnxruntime's dynamic int8 quantisation, after rewriting Gemm as MatMul + Add so it applies to them."""
    onnx, _ = require_onnx()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    gemm_to_matmul(model)
    partial = target.with_suffix(".partial")
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # its advice to pre-process applies to static quantisation
    try:
        quantize_dynamic(model, str(partial), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    os.replace(partial, target)


def gemm_to_matmul(model) -> None:
    """Gemm(A, W, b) with transB=1, a constant W and alpha = beta = 1 becomes MatMul(A, Wᵀ) + b, in place."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    nodes = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type != "Gemm" or attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 \
                or node.input[1] not in weights:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(weights[node.input[1]])
        name = f"{node.input[1]}_matmul"
        graph.initializer.append(numpy_helper.from_array(weight.T.copy() if attrs.get("transB", 0) else weight, name))
        product = f"{node.output[0]}_product" if len(node.input) > 2 else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], name=f"{node.name}_matmul"))
        if len(node.input) > 2:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_add"))
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)


@torch.inference_mode()
def validate(translator, run_dir: Path, int8: bool) -> dict:
    """Torch against onnxruntime on the example batches: the encoder's outputs, one decoder step
    from the same inputs, and greedy search end to end (the same tokens, the same scores)."""
    model = translator.model
    engine = OnnxEngine(*(open_session(run_dir / FOLDER / graph_file(n, int8)) for n in (ENCODER, STEP)), model.decoder)
    memory_diff = log_prob_diff = score_diff = 0.0
    same = total = 0
    for src, lengths in example_batches(translator):
        (memory, state), (onnx_memory, onnx_state) = model.encode(src, lengths), engine.encode(src, lengths)
        memory_diff = max(memory_diff, _diff(memory.values, onnx_memory.values), _diff(state, onnx_state))
        prev = torch.full((src.size(0),), Vocab.SOS, dtype=torch.long)
        expected, got = model.decoder.step(prev, state, memory)[0], engine.decoder.step(prev, state, memory)[0]
        log_prob_diff = max(log_prob_diff, _diff(expected, got))
        limits = max_output_lengths(lengths, translator.config.decode.max_len_ratio, translator.config.decode.max_len_extra)
        for mine, theirs in zip(search(model, src, lengths, limits), search(engine, src, lengths, limits)):
            same += mine[0].tokens == theirs[0].tokens
            total += 1
            score_diff = max(score_diff, abs(mine[0].score - theirs[0].score))
    return {
        "sentences": total, "same_tokens": same == total, "same_token_share": round(same / total, 3),
        "max_memory_diff": float(f"{memory_diff:.3g}"), "max_log_prob_diff": float(f"{log_prob_diff:.3g}"),
        "max_score_diff": float(f"{score_diff:.3g}"),
    }


def _diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference where both are finite (masked positions are -inf in both)."""
    a, b = a.float(), b.float()
    finite = a.isfinite() & b.isfinite()
    return float((a - b)[finite].abs().max()) if bool(finite.any()) else 0.0


