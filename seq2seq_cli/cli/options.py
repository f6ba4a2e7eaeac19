"""Every option two commands share, defined once: one spelling, one help text, short signatures.

A command writes ``run: RunOption = None``; the alias carries the flag and its help.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DEFAULT_SENTENCE = "i am a student"

ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config file.")]
OverridesOption = Annotated[
    Optional[list[str]], typer.Option("--set", help="Override a config key, e.g. --set train.epochs=50 (repeatable).")
]
RunOption = Annotated[Optional[str], typer.Option("--run", help="Run folder or name inside --runs-dir. [default: newest run]")]
RunArgument = Annotated[Optional[str], typer.Argument(help="Run folder or name inside --runs-dir. [default: newest run]")]
RunsDirOption = Annotated[Path, typer.Option("--runs-dir", help="Where runs live.")]
CheckpointOption = Annotated[
    str, typer.Option("--checkpoint", help="Weights: a .pt file in the run folder (average-last5.pt...) or a path.")
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
    str, typer.Option("--engine", help="What runs the search: torch, onnx or onnx-int8 (after s2s export; CPU, onnxruntime).")
]
