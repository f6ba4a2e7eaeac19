"""Where training runs: the device, and (under torchrun) which process of how many this is.

One process on one device is the ordinary case; under ``torchrun --nproc_per_node N`` every
process trains on its share of each global batch with DistributedDataParallel (gloo on CPUs,
NCCL on GPUs), and only rank 0 writes anything.
"""

from __future__ import annotations

import os

import torch

from seq2seq_cli.errors import ConfigError
from seq2seq_cli.system import Context


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU; a named device must exist."""
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if name == "auto":
        name = next(device for device in ("cuda", "mps", "cpu") if available[device])
    if not available[name]:
        raise ConfigError(f"train.device: {name} is not available on this machine (try auto or cpu)")
    if name == "cuda":
        keep_attention_off_cudnn()
    return torch.device(name)


def keep_attention_off_cudnn() -> None:
    """cuDNN's fused attention (bf16/fp16 only) builds a plan for every new shape, and length-bucketed
    batches bring a new shape almost every step: on an H200 with torch 2.11 the Multi30k Transformer
    trained in bf16 at 16,400 target tokens/s with it and 72,300 without (fp32: 89,500), bench/GPU.md.
    PyTorch's other fused kernels (flash, memory-efficient) take those shapes as they come."""
    torch.backends.cuda.enable_cudnn_sdp(False)


def setup(device_name: str) -> Context:
    """This process's place: from torchrun's environment variables when present."""
    device = resolve_device(device_name)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Context(0, 1, device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Context(torch.distributed.get_rank(), world, device)


def teardown(context: Context) -> None:
    if context.distributed and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
