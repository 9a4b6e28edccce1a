"""Data-parallel training under ``torch.distributed`` (launched with ``torchrun``): NCCL on GPUs, gloo on CPUs.

Every process sees the same global batch and trains on its own contiguous shard of it; after the backward pass
the parameter gradients are averaged across processes, each weighted by its shard's size, so that a ragged last
batch gives the mean over the global batch. The random streams are synchronised at the start of every epoch, so
shuffles and augmentations agree; each process's penalty uses only its own shard.

Why explicit ``all_reduce`` rather than ``DistributedDataParallel``: DDP's reducer expects one forward per
backward and hooks the parameters' gradient accumulation, while SOR runs several forwards per step and takes input
gradients with ``torch.autograd.grad(create_graph=True)`` before the one backward to the weights. One all-reduce
of the flattened gradients after that backward is the same arithmetic with no assumption about the graph, and it
weights ragged shards correctly, which DDP's plain mean does not.

What is synchronised: initial weights (from rank 0), random streams (every epoch), gradients (every step), the
epoch's training statistics, and batch norm's running statistics (averaged every epoch; with ``SyncBatchNorm``
the batch statistics too, on CUDA). What is not: per-process random draws inside an epoch (dropout masks, random
starts), which differ from a one-process run.
"""

from __future__ import annotations

import atexit
import os
import time
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DataParallel:
    """A process's place in the data-parallel group (one process when ``torch.distributed`` is not set up).

    :ivar rank: This process's rank.
    :ivar size: Number of processes.
    :ivar device: Where collective operations run (CUDA for NCCL, CPU for gloo).
    :ivar communication_seconds: Time spent averaging gradients, for benchmarks.
    """

    rank: int = 0
    size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    communication_seconds: float = 0.0

    @classmethod
    def current(cls) -> DataParallel:
        """The default process group if ``torch.distributed`` is initialised, else a group of one."""
        if not (dist.is_available() and dist.is_initialized()):
            return cls()
        nccl = dist.get_backend() == "nccl"
        device = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")
        return cls(dist.get_rank(), dist.get_world_size(), device)

    @property
    def active(self) -> bool:
        """Whether there is more than one process."""
        return self.size > 1

    @property
    def leader(self) -> bool:
        """Whether this process writes files and reports (rank 0)."""
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """The contiguous share of a global batch of ``n`` samples that this process trains on."""
        return slice(self.rank * n // self.size, (self.rank + 1) * n // self.size)

    def sync_random_state(self) -> None:
        """Give every process rank 0's torch generator state (CPU, and CUDA when present)."""
        if not self.active:
            return
        state = torch.get_rng_state().to(self.device)
        dist.broadcast(state, src=0)
        torch.set_rng_state(state.cpu())
        if torch.cuda.is_available():
            cuda_state = torch.cuda.get_rng_state().to(self.device)
            dist.broadcast(cuda_state, src=0)
            torch.cuda.set_rng_state(cuda_state.cpu())

    def broadcast_module(self, module: nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every process."""
        if not self.active:
            return
        with torch.no_grad():
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)

    def average_gradients(self, parameters: list[nn.Parameter], samples: int) -> None:
        """Replace each gradient by the sample-weighted mean over processes (``Σ nᵣ gᵣ / Σ nᵣ``)."""
        if not self.active:
            return
        start = time.perf_counter()
        grads = [p.grad for p in parameters if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads] + [torch.ones(1, device=grads[0].device)])
        flat[:-1] *= samples
        flat[-1] = samples
        dist.all_reduce(flat)
        flat = flat[:-1] / flat[-1]
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()
        self.communication_seconds += time.perf_counter() - start

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over processes."""
        if not self.active:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true in any process (so that all stop together)."""
        return self.sum([float(flag)])[0] > 0

    def average_buffers(self, module: nn.Module) -> None:
        """Average floating-point buffers (batch norm's running statistics) over processes."""
        if not self.active:
            return
        with torch.no_grad():
            for buffer in module.buffers():
                if buffer.is_floating_point():
                    dist.all_reduce(buffer)
                    buffer /= self.size

    def barrier(self) -> None:
        """Wait for every process."""
        if self.active:
            dist.barrier()


def init_from_environment() -> DataParallel:
    """Join the process group ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1), else do nothing.

    NCCL with one GPU per process (``LOCAL_RANK``) when CUDA is available, gloo on CPUs.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        # Left to interpreter shutdown, the backend's threads can be torn down while still joinable, which aborts
        # a finished process ("terminate called without an active exception"); leave the group first.
        atexit.register(_leave_group)
    return DataParallel.current()


def _leave_group() -> None:
    if dist.is_initialized():
        # Every rank leaves together: a rank that tears its group down while another still works in it (rank 0
        # evaluates and writes after training) could abort at exit ("terminate called without an active exception").
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()
