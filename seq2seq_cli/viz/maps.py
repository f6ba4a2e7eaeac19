"""Attention maps as compact JSON: little-endian uint16 in base64, 2.7 characters a weight instead of ~6.

The explorer page (``page_assets/explorer.js``), the probes file and TensorBoard's images all read
this one encoding.
"""

from __future__ import annotations

import base64

import torch

SCALE = 10_000  # weights kept to 4 decimals, as ``translate --json`` prints them


def encode_map(weights: torch.Tensor) -> dict:
    """A (rows, cols) map as little-endian uint16 in base64: 2.7 characters a weight instead of ~6 in JSON."""
    values = (weights.double().clamp(0.0, 1.0) * SCALE).round().to(torch.int32).numpy().astype("<u2")
    return {"shape": list(weights.shape), "b64": base64.b64encode(values.tobytes()).decode("ascii")}


def decode_map(record: dict) -> torch.Tensor:
    """The weights an ``encode_map`` record holds, (rows, cols), to 4 decimals."""
    import numpy

    values = numpy.frombuffer(base64.b64decode(record["b64"]), dtype="<u2").astype("float64") / SCALE
    return torch.from_numpy(values.reshape(record["shape"]))


def encode_maps(weights: torch.Tensor) -> dict | list[list[dict]]:
    """One map, or for multi-head weights (rows, layers, heads, cols) one per head of each layer."""
    if weights.dim() == 2:
        return encode_map(weights)
    return [[encode_map(weights[:, layer, head]) for head in range(weights.size(2))] for layer in range(weights.size(1))]
