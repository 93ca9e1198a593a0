"""Process-group setup shared by every training entrypoint (plain ``python -m`` or ``torchrun``).

Like nanoGPT: if ``RANK`` is in the environment we are under torchrun and join a process
group (nccl on GPU, gloo on CPU); otherwise we are a single process and nothing changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: str = "cpu"

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistContext:
    if "RANK" not in os.environ:
        return DistContext(device="cuda" if torch.cuda.is_available() else "cpu")
    rank, local_rank, world = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(os.environ["WORLD_SIZE"])
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl")
        device = f"cuda:{local_rank}"
    else:
        dist.init_process_group(backend="gloo")
        device = "cpu"
    return DistContext(rank=rank, local_rank=local_rank, world_size=world, device=device)


def shutdown_distributed(context: DistContext) -> None:
    if context.is_distributed and dist.is_initialized():
        dist.destroy_process_group()
