"""The machine this process runs on: the CPU's name and matrix units, memory, and the process's
place among the processes of a distributed run.

``s2s doctor`` reports these facts, training's ``precision: auto`` decides by them, and every
benchmark names the CPU it measured (``cpu_name``). Ground floor: imports nothing of s2s.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seq2seq_cli.errors import ConfigError

FEATURES = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8")


def cpu_model() -> tuple[str, set[str]]:
    """The CPU's name and its feature flags (Linux); the platform's description elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), set()
    name, flags = platform.machine(), set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and name == platform.machine():
            name = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return name, flags


def cpu_name() -> str:
    """What every benchmark figure is quoted beside."""
    return cpu_model()[0]


def has_amx() -> bool:
    """Native bf16 matrix units (Intel AMX): where bf16 can beat float32 by more than its casts cost."""
    return "amx_bf16" in cpu_model()[1]


def matmul_gflops(dtype, size: int = 1024, seconds: float = 1.0) -> float:
    """The best sustained ``torch.mm`` rate at the current thread count, in GFLOP/s."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    best, stop = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < stop:
        start = time.perf_counter()
        a @ b
        best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


def memory_gib() -> tuple[float, float]:
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        return int(fields["MemTotal"].split()[0]) / 2**20, int(fields["MemAvailable"].split()[0]) / 2**20
    except (OSError, KeyError, ValueError):
        return float("nan"), float("nan")


@dataclass
class Context:
    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over all processes."""
        if not self.distributed:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every process when it is true on any (so all stop at the same step)."""
        return bool(self.sum([float(flag)])[0]) if self.distributed else flag

    def gather(self, items: list[Any]) -> list[list[Any]]:
        """Every process's list, in rank order, on every process."""
        if not self.distributed:
            return [items]
        gathered: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(gathered, items)
        return gathered

    def from_main(self, value: Any) -> Any:
        """Rank 0's value, on every process."""
        if not self.distributed:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()


SINGLE = Context(rank=0, world=1, device=torch.device("cpu"))  # one process on the CPU


def resolve_device(name: str, setting: str = "train.device") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU; a named device must exist."""
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if name == "auto":
        name = next(device for device in ("cuda", "mps", "cpu") if available[device])
    if not available[name]:
        raise ConfigError(f"{setting}: {name} is not available on this machine (try auto or cpu)")
    if name == "cuda":
        keep_attention_off_cudnn()
    return torch.device(name)


def keep_attention_off_cudnn() -> None:
    """cuDNN's fused attention (bf16/fp16 only) builds a plan for every new shape, and length-bucketed
    batches bring a new shape almost every step: on an H200 with torch 2.11 the Multi30k Transformer
    trained in bf16 at 16,400 target tokens/s with it and 72,300 without (fp32: 89,500), bench/GPU.md.
    PyTorch's other fused kernels (flash, memory-efficient) take those shapes as they come."""
    torch.backends.cuda.enable_cudnn_sdp(False)


class CoreUse:
    """How many cores *other* processes kept busy since the last reading, from ``/proc/stat`` (all
    processes' CPU time) less this process's own (``time.process_time``, every thread of it).

    Training reads it to share the cores fairly (``training/sharing.py``). Where ``/proc/stat`` is
    missing (not Linux) it reads nothing (``None``), and training keeps its thread count.
    """

    def __init__(self) -> None:
        self._last = self._now()

    @staticmethod
    def _busy_seconds() -> float | None:
        """CPU time spent by every process on the machine: user, nice, system, irq and softirq."""
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        except OSError:
            return None
        if fields[:1] != ["cpu"] or len(fields) < 8:
            return None
        return sum(int(fields[i]) for i in (1, 2, 3, 6, 7)) / _CLOCK_TICKS

    def _now(self) -> tuple[float, float | None, float]:
        return time.monotonic(), self._busy_seconds(), time.process_time()

    def others(self) -> float | None:
        """Cores other processes used on average since the previous call (or since this one was made)."""
        then, now = self._last, self._now()
        self._last = now
        wall = now[0] - then[0]
        if now[1] is None or then[1] is None or wall <= 0:
            return None
        return max(0.0, (now[1] - then[1]) - (now[2] - then[2])) / wall


def _clock_ticks() -> int:
    """The unit of ``/proc/stat``'s times (USER_HZ, 100 on Linux)."""
    try:
        return os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 100


_CLOCK_TICKS = _clock_ticks()
