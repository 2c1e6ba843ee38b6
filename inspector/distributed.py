"""Training on several processes with PyTorch's DistributedDataParallel, started by torchrun.

    torchrun --standalone --nproc-per-node 2 -m inspector train --preset resnet20 --steps 300

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE (and the rendezvous address) for every process; this
module reads them, joins the process group (NCCL between GPUs, gloo between CPU processes) and
says which device a process trains on. The engine (`inspector.train.Trainer`) then splits each
global batch: every epoch's shuffled order is the same on all processes (one seed), and process r
trains on positions r, r + N, r + 2N, ... of it, as `torch.utils.data.DistributedSampler` does;
DDP averages the gradients, so N processes with batch B / N take the steps one process takes with
batch B (batch norm statistics are per process, the usual DDP behaviour).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


class DistributedError(ValueError):
    """A torchrun environment this engine cannot train in, said in a sentence."""


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job."""

    rank: int
    local_rank: int
    world_size: int
    backend: str  # "nccl" or "gloo"

    @property
    def is_main(self) -> bool:
        """Rank 0 prints, writes the checkpoint and the metrics."""
        return self.rank == 0

    def device(self, requested: str) -> torch.device:
        """cuda:LOCAL_RANK on GPUs (one GPU per process), else the CPU."""
        if self.backend == "nccl":
            return torch.device("cuda", self.local_rank)
        if requested == "cuda":
            raise DistributedError("CUDA was asked for but no GPU is available to PyTorch here.")
        return torch.device("cpu")


def _int_env(name: str) -> int | None:
    text = os.environ.get(name)
    if text is None:
        return None
    if not text.strip().isdigit():
        raise DistributedError(f"The environment variable {name} must be a whole number, "
                               f"not {text!r}.")
    return int(text)


def from_environment(device: str = "auto") -> Distributed | None:
    """This process's place when started by torchrun with more than one process, else None."""
    world = _int_env("WORLD_SIZE")
    if world is None or world <= 1:
        return None
    rank, local_rank = _int_env("RANK"), _int_env("LOCAL_RANK")
    if rank is None or local_rank is None:
        raise DistributedError("WORLD_SIZE is set but RANK or LOCAL_RANK is not; start several "
                               "processes with torchrun.")
    use_gpu = device != "cpu" and torch.cuda.is_available()
    if use_gpu and local_rank >= torch.cuda.device_count():
        raise DistributedError(f"Process {local_rank} on this machine has no GPU of its own "
                               f"({torch.cuda.device_count()} found); start at most that many "
                               f"processes per machine.")
    return Distributed(rank, local_rank, world, "nccl" if use_gpu else "gloo")


def start(place: Distributed) -> None:
    """Join the process group (once per process)."""
    if place.backend == "nccl":
        torch.cuda.set_device(place.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(place.backend)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def sum_across(values: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of `values` over all processes (every process gets it)."""
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values
