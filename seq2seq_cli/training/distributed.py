"""Where training runs: the device, and (under torchrun) which process of how many this is.

One process on one device is the ordinary case; under ``torchrun --nproc_per_node N`` every
process trains on its share of each global batch with DistributedDataParallel (gloo on CPUs,
NCCL on GPUs), and only rank 0 writes anything.
"""

from __future__ import annotations

import os

import torch

from seq2seq_cli.system import Context, resolve_device


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


def is_main_process() -> bool:
    """Rank 0 (the process that writes), known before ``setup``: from torchrun's RANK, else the only process."""
    return int(os.environ.get("RANK", "0")) == 0


def teardown(context: Context) -> None:
    if context.distributed and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
