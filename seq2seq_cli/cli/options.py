"""Every option two commands share, defined once: one spelling, one help text, short signatures.

A command writes ``run: RunOption = None``; the alias carries the flag and its help. Choices are
Enums, so ``s2s --install-completion`` completes them and a wrong one is an error listing them.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer

DEFAULT_SENTENCE = "i am a student"


class Engine(StrEnum):
    torch = "torch"
    onnx = "onnx"
    onnx_int8 = "onnx-int8"


class Method(StrEnum):
    """Attribution methods (decoding/attribution.py)."""

    grad = "grad"
    ig = "ig"
    occlusion = "occlusion"


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config file.")]
OverridesOption = Annotated[
    Optional[list[str]], typer.Option("--set", help="Override a config key, e.g. --set train.epochs=50 (repeatable).")
]
RunOption = Annotated[
    Optional[str], typer.Option("--run", "-r", help="Run folder or name inside --runs-dir. [default: newest run]")
]
RunsDirOption = Annotated[Path, typer.Option("--runs-dir", help="Where runs live.")]
CheckpointOption = Annotated[
    Optional[str], typer.Option("--checkpoint", help="Weights: a .pt file in the run folder (average-last5.pt...) or a "
                                "path. [default: the run's default: best.pt, or what s2s average found better]")
]
BeamOption = Annotated[
    Optional[int], typer.Option("--beam", min=1, help="Beam size (1: greedy). [default: the run's decode.beam_size]")
]
LengthPenaltyOption = Annotated[
    Optional[float],
    typer.Option("--length-penalty", min=0.0,
                 help="Beam search's length penalty alpha (0: none; tune it on the validation set). "
                 "[default: the run's decode.length_penalty]"),
]
EngineOption = Annotated[
    Engine, typer.Option("--engine", help="What runs the search (onnx, onnx-int8: after s2s export; CPU, onnxruntime).")
]
DeviceOption = Annotated[Device, typer.Option("--device", help="Where the model runs (auto: CUDA, then MPS, then the CPU).")]
BatchSizeOption = Annotated[int, typer.Option("--batch-size", min=1, help="Sentences decoded together.")]
EnsembleOption = Annotated[
    Optional[list[str]],
    typer.Option("--ensemble", help="Decode with several models at once, their log-probabilities averaged at every step: "
                 "repeat it, RUN or RUN:CHECKPOINT (runs/x:average-last10.pt). They must share the target vocabulary."),
]
PrefixOption = Annotated[
    Optional[str],
    typer.Option("--prefix", help="Force the translation to start with these words; the search goes on from there."),
]
AttributionOption = Annotated[
    Optional[Method],
    typer.Option("--attribution", help="Also attribute each output word to the source words: gradient x input, "
                 "integrated gradients or occlusion (needs captum: pip install \"seq2seq-cli\\[explain]\")."),
]
IgStepsOption = Annotated[
    Optional[int], typer.Option("--ig-steps", min=1, help="--attribution ig: steps along the path. [default: 32]")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress: warnings and errors only.")]
# Old spellings, accepted for one release with a warning (common.renamed); hidden from --help.
OldOutOption = Annotated[Optional[Path], typer.Option("--out", hidden=True)]
OldRunArgument = Annotated[Optional[str], typer.Argument(hidden=True, show_default=False)]
