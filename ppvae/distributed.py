"""Where training runs: the device, and this process's place among data-parallel processes.

Processes are started by ``torchrun`` (its ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``
variables); they join one ``torch.distributed`` process group (gloo on the CPU, NCCL on
CUDA). Each takes its share of every global batch, and one all-reduce per step sums the
gradients of the shares, so the step is that of the global batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from ppvae.errors import ConfigError, PPVAEError

T = TypeVar("T")
DEVICES = "auto, cpu, cuda or cuda:N"


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """The device a spec names: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``.

    Under several processes ``cuda`` and ``auto`` mean the process's own GPU (its local rank).
    """
    spec = spec.strip().lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r} asked for, but this machine has no usable CUDA "
                              "GPU (torch.cuda.is_available() is False); use --device cpu")
        index: int | str = local_rank if spec == "cuda" else spec.partition(":")[2]
        try:
            index = int(index)
        except ValueError:
            raise ConfigError(f"unknown device {spec!r}; valid: {DEVICES}") from None
        if not 0 <= index < torch.cuda.device_count():
            raise ConfigError(f"device cuda:{index} does not exist; this machine has "
                              f"{torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", index)
    raise ConfigError(f"unknown device {spec!r}; valid: {DEVICES}")


class ProcessGroupError(PPVAEError):
    """An error the main process met, raised in the other processes too."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Context:
    """This process's rank among ``world`` data-parallel processes, and its device."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """The process that writes the run folder and reports progress."""
        return self.rank == 0

    def shard(self, rows: torch.Tensor) -> torch.Tensor:
        """This process's contiguous share of ``rows`` (the first ones get one more)."""
        return rows if self.world == 1 else rows.tensor_split(self.world)[self.rank]

    def sum(self, values: Sequence[float]) -> list[float]:
        """Each value summed over the processes (float64)."""
        if self.world == 1:
            return [float(v) for v in values]
        buf = torch.tensor(list(values), dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(buf)
        return buf.tolist()

    def sum_gradients(self, params: Sequence[torch.nn.Parameter], loss: float) -> float:
        """Sum every gradient, and the loss, over the processes (one all-reduce); returns the
        summed loss. A parameter that has no gradient in any process keeps none (as in one
        process); one that has a gradient in some processes counts zero in the others."""
        if self.world == 1:
            return loss
        like = params[0]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        has = torch.tensor([p.grad is not None for p in params], dtype=like.dtype,
                           device=like.device)
        flat = torch.cat([g.reshape(-1) for g in grads] +
                         [has, torch.tensor([loss], dtype=like.dtype, device=like.device)])
        dist.all_reduce(flat)
        offset, counts = 0, flat[-1 - len(params):-1].tolist()
        for p, count in zip(params, counts, strict=True):
            n = p.numel()
            p.grad = flat[offset:offset + n].view_as(p).clone() if count > 0 else None
            offset += n
        return float(flat[-1])

    def on_main(self, fn: Callable[[], T]) -> T | None:
        """``fn()`` in the main process only (``None`` in the others); an error it raises
        there is raised in every process, so that none waits for the others in vain."""
        if self.world == 1:
            return fn()
        out, failure = None, None
        if self.is_main:
            try:
                out = fn()
            except PPVAEError as exc:
                failure = (str(exc), exc.exit_code)
                error = exc
        failure = self.broadcast(failure)
        if failure is not None:
            if self.is_main:
                raise error
            raise ProcessGroupError(*failure)
        return out

    def gather(self, obj: Any) -> list[Any]:
        """``obj`` from every process, in rank order."""
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """The main process's ``obj`` in every process."""
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def _comm_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


def world_from_env() -> tuple[int, int, int]:
    """``(rank, world size, local rank)`` as torchrun sets them (``0, 1, 0`` otherwise)."""
    try:
        return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError as exc:
        raise ConfigError(f"bad torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {exc}") from None


def setup(device: str = "auto") -> tuple[Context, bool]:
    """This process's context; joins the process group when started by torchrun with more
    than one process. Returns ``(context, joined)``: ``joined`` is True when this call
    created the group (the caller then ends it with :func:`teardown`)."""
    rank, world, local_rank = world_from_env()
    dev = resolve_device(device, local_rank)
    if world == 1:
        return Context(0, 1, dev), False
    if device.strip().lower().startswith("cuda:"):
        raise ConfigError(f"device {device!r} names one GPU for all {world} processes; use "
                          "cuda (or auto): each process takes the GPU of its local rank")
    if dist.is_initialized() and dist.get_backend() == "nccl" and dev.type != "cuda":
        raise ConfigError(f"this process group (NCCL) trains on GPUs; train.device {device!r} "
                          "would put a run on the CPU")
    joined = False
    if not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        joined = True
    return Context(dist.get_rank(), dist.get_world_size(), dev), joined


def teardown(joined: bool, completed: bool = True) -> None:
    """Leave the process group if :func:`setup` joined it: after a completed run all
    processes together (one that tears its connections down while another still uses them
    can abort in gloo); after a failure at once, so that torchrun stops the others."""
    if joined and dist.is_initialized():
        try:
            if completed:
                dist.barrier()
        finally:
            dist.destroy_process_group()
