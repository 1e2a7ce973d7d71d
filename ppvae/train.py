"""The trainer: SVI with one Adam, an epoch at a time, over any objective.

The loop knows nothing of what it trains: the objective (:mod:`ppvae.objectives`) gives the
rows of an epoch, the loss of a batch, the epoch's figures and its evaluation; the run
folder (:mod:`ppvae.rundir`) stores what each epoch leaves; the context
(:mod:`ppvae.distributed`) says on which device and in which share of a data-parallel group
this process works.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyro
import torch

from ppvae.averaging import ParamAverage
from ppvae.config import RunConfig
from ppvae.data.base import TensorData
from ppvae.distributed import Context, resolve_device
from ppvae.errors import ConfigError, PPVAEError, TrainingDiverged
from ppvae.objectives import Objective, make_objective
from ppvae.pair import Pair, build_pair, checked, init_from_data
from ppvae.rundir import CHECKPOINT, PREVIOUS, RunDir, load_pair_state
from ppvae.schedules import learning_rate


@dataclass(frozen=True)
class RunStart:
    """What hooks are told when training starts: the run folder, config, data (on the
    training device), the pair being trained, and the first epoch to be trained."""

    run_dir: Path
    config: RunConfig
    data: TensorData
    pair: Pair
    first_epoch: int


class Hooks(Protocol):
    """Callbacks of the epoch loop (progress bars, TensorBoard); only the main process
    calls them."""

    def run_start(self, start: RunStart) -> None: ...
    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step(self, loss_per_example: float) -> None: ...
    def epoch_end(self, record: dict[str, Any]) -> None: ...
    def run_end(self, metrics: list[dict[str, Any]], completed: bool) -> None: ...


class SilentHooks:
    """Hooks that do nothing (a base class for hooks that need only some callbacks)."""

    def run_start(self, start: RunStart) -> None:
        pass

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        pass

    def step(self, loss_per_example: float) -> None:
        pass

    def epoch_end(self, record: dict[str, Any]) -> None:
        pass

    def run_end(self, metrics: list[dict[str, Any]], completed: bool) -> None:
        pass


class HookList(SilentHooks):
    """Several hooks called in order."""

    def __init__(self, hooks: list[Hooks]) -> None:
        self.hooks = hooks

    def run_start(self, start: RunStart) -> None:
        for h in self.hooks:
            h.run_start(start)

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        for h in self.hooks:
            h.epoch_start(epoch, epochs, steps)

    def step(self, loss_per_example: float) -> None:
        for h in self.hooks:
            h.step(loss_per_example)

    def epoch_end(self, record: dict[str, Any]) -> None:
        for h in self.hooks:
            h.epoch_end(record)

    def run_end(self, metrics: list[dict[str, Any]], completed: bool) -> None:
        for h in self.hooks:
            h.run_end(metrics, completed)


@dataclass
class TrainResult:
    """What a finished training run leaves behind."""

    run_dir: Path
    config: RunConfig
    pair: Pair
    metrics: list[dict[str, Any]] = field(default_factory=list)


class NonFiniteLoss(ArithmeticError):
    """A step's loss was NaN or infinite (``step`` counts from 1)."""

    def __init__(self, step: int, value: float, detail: str = "") -> None:
        super().__init__(f"loss {value} at step {step}{': ' + detail if detail else ''}")
        self.step, self.value, self.detail = step, value, detail


@dataclass
class TrainState:
    """What training changes besides the weights; saved with them after every epoch."""

    epoch: int
    optim: torch.optim.Optimizer
    gen: torch.Generator  # the data order (and, on the CPU, the epoch's draw of the data)
    data_gen: torch.Generator  # the epoch's draw of the data on the data's device
    metrics: list[dict[str, Any]] = field(default_factory=list)
    average: ParamAverage | None = None


def make_optimizer(
    params: list[torch.nn.Parameter], lr: float, eps: float = 1e-8
) -> torch.optim.Optimizer:
    """One Adam over all parameters, fused when this torch build supports it."""
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)


def sgd_epoch(
    pair: Pair,
    objective: Objective,
    optim: torch.optim.Optimizer,
    x: torch.Tensor,
    perm: torch.Tensor,
    batch_size: int,
    ctx: Context | None = None,
    on_step: Callable[[float], None] | None = None,
    after_step: Callable[[], None] | None = None,
    decay_per_row: float = 0.0,
    clip_per_row: float = 0.0,
) -> float:
    """One pass of SVI steps over ``x`` in the order ``perm``; returns the summed loss.

    ``perm`` is split into global batches (the last may be short); this process steps on its
    share of each, and the gradients and losses of the shares are summed over ``ctx``.
    Raises :class:`NonFiniteLoss` before stepping on a bad loss. ``after_step`` runs after
    every optimizer step (e.g. a parameter average's update). ``decay_per_row``: each step's
    Adam weight decay is this times its global batch's rows (a weight prior, see
    ``TrainConfig.weight_prior``); ``clip_per_row`` > 0 clips every gradient element to
    ± this times those rows (``TrainConfig.clip_grad``).
    """
    ctx = ctx or Context()
    params = [p for group in optim.param_groups for p in group["params"]]
    total = 0.0
    for step, idx in enumerate(perm.split(batch_size), start=1):
        optim.zero_grad(set_to_none=True)
        for group in optim.param_groups:
            group["weight_decay"] = decay_per_row * idx.numel()
        detail = ""
        try:
            loss = objective.loss(pair, x[ctx.shard(idx).to(x.device)])
            value = loss.item()
            if math.isfinite(value):
                loss.backward()
        except PPVAEError:
            raise
        except ValueError as exc:  # distribution validation (train.validate_args) on NaN
            value, detail = float("nan"), str(exc).splitlines()[0]
        value = ctx.sum_gradients(params, value)
        if not math.isfinite(value):
            raise NonFiniteLoss(step, value, detail)
        if clip_per_row:
            torch.nn.utils.clip_grad_value_(params, clip_per_row * idx.numel())
        optim.step()
        if after_step is not None:
            after_step()
        total += value
        if on_step is not None:
            on_step(value / idx.numel())
    return total


def _rank_seed(seed: int, rank: int) -> int:
    """The random stream of a process other than the first (the first keeps ``seed``)."""
    return (seed * 1_000_003 + rank) % 2**32


def setup(cfg: RunConfig, data: TensorData, ctx: Context
          ) -> tuple[Pair, Objective, TrainState]:
    """A fresh pair on the context's device, its objective and the initial training state."""
    t = cfg.train
    pyro.clear_param_store()
    pyro.set_rng_seed(t.seed)  # every process builds the same initial weights
    pair = checked(build_pair(cfg, data.spec).to(ctx.device), data.x_train)
    init_from_data(pair, data.x_train)
    objective = make_objective(cfg, pair, data, ctx)
    if ctx.rank > 0:
        pyro.set_rng_seed(_rank_seed(t.seed, ctx.rank))
    gen = torch.Generator().manual_seed(t.seed)
    data_gen = gen if ctx.device.type == "cpu" else \
        torch.Generator(ctx.device).manual_seed(t.seed)
    optim = make_optimizer(pair.parameters(), t.lr, t.adam_eps)
    check_world(t.batch_size, objective.start_epoch(data.x_train).shape[0], ctx)
    return pair, objective, TrainState(0, optim, gen, data_gen)


def check_world(batch_size: int, n: int, ctx: Context) -> None:
    """Every process needs a share of every global batch."""
    if batch_size % ctx.world:
        raise ConfigError(f"train.batch_size = {batch_size} is the global batch; it must be "
                          f"divisible by the number of processes ({ctx.world})")
    if 0 < n % batch_size < ctx.world:
        raise ConfigError(f"the last batch of each epoch holds {n % batch_size} of {n} examples, "
                          f"fewer than the {ctx.world} processes; change train.batch_size")


def _differs(folder: RunDir, what: str) -> None:
    warnings.warn(f"{folder.path} {what}: the random draws and the results of the epochs to "
                  "come differ from those of an uninterrupted run", RuntimeWarning, stacklevel=4)


def restore(folder: RunDir, name: str, cfg: RunConfig, data: TensorData, pair: Pair,
            objective: Objective, state: TrainState, ctx: Context) -> dict[str, Any]:
    """Continue from the run's checkpoint ``name``; returns it."""
    saved = folder.load(name)
    folder.check_resume(saved, cfg, data.source)
    load_pair_state(pair, saved.get("live", saved), folder.file(name))
    state.optim.load_state_dict(saved["optim"])
    objective.load_state_dict(saved.get("objective", {}))
    state.gen.set_state(saved["gen"])
    epoch, seed = int(saved["epoch"]), cfg.train.seed
    moved = saved.get("device_type", "cpu") != ctx.device.type
    kernels = saved.get("cpu_capability"), torch.backends.cpu.get_cpu_capability()
    if ctx.device.type == "cpu" and not moved and None not in kernels and \
            kernels[0] != kernels[1] and ctx.is_main:
        _differs(folder, f"was trained with ATen's {kernels[0]} CPU kernels and resumes with "
                         f"{kernels[1]} (ATEN_CPU_CAPABILITY, --native-kernels)")
    if moved and ctx.is_main:
        _differs(folder, f"was trained on {saved.get('device_type', 'cpu')} and resumes on "
                         f"{ctx.device.type}")
    if state.data_gen is not state.gen:
        if "data_gen" in saved and not moved:
            state.data_gen.set_state(saved["data_gen"])
        else:
            state.data_gen.manual_seed(_rank_seed(seed + epoch, 0))
    rngs = saved.get("rng_ranks") or [saved["rng"]]
    if len(rngs) == ctx.world:
        torch.set_rng_state(rngs[ctx.rank])
    else:
        if ctx.is_main:
            _differs(folder, f"was trained by {len(rngs)} process(es) and resumes with "
                             f"{ctx.world}")
        torch.manual_seed(_rank_seed(seed + epoch, ctx.rank))
    if ctx.device.type == "cuda":
        cuda = saved.get("cuda_rng_ranks")
        if cuda and len(cuda) == ctx.world and not moved:
            torch.cuda.set_rng_state(cuda[ctx.rank], ctx.device)
        else:
            torch.cuda.manual_seed(_rank_seed(seed + epoch, ctx.rank))
    state.epoch = int(saved["epoch"])
    state.metrics = json.loads(saved["metrics"])
    return saved


def _weights(pair: Pair) -> dict[str, dict[str, torch.Tensor]]:
    """CPU copies of the model's and guide's current weights."""
    return {name: {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
            for name, module in (("model", pair.model), ("guide", pair.guide))}


def checkpoint(cfg: RunConfig, data: TensorData, pair: Pair, objective: Objective,
               state: TrainState, weights: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """The checkpoint of the epoch just ended (``weights``: the evaluated weights)."""
    rngs = ctx.gather(torch.get_rng_state())
    out: dict[str, Any] = {
        "format": 1, "epoch": state.epoch, **weights, "optim": state.optim.state_dict(),
        "rng": rngs[0], "gen": state.gen.get_state(), "config": json.dumps(cfg.to_dict()),
        "data_source": data.source, "metrics": json.dumps(state.metrics),
        "objective": objective.state_dict(), "device_type": ctx.device.type,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    if ctx.world > 1:
        out["rng_ranks"] = rngs
    if ctx.device.type == "cuda":
        out["cuda_rng_ranks"] = ctx.gather(torch.cuda.get_rng_state(ctx.device))
        out["data_gen"] = state.data_gen.get_state()
    if state.average is not None:
        out.update(live=_weights(pair), average=state.average.state_dict())
    return out


def run_epoch(epoch: int, cfg: RunConfig, data: TensorData, pair: Pair, objective: Objective,
              state: TrainState, ctx: Context, hooks: Hooks, kept: str | None
              ) -> tuple[dict[str, Any], dict]:
    """Train one epoch and evaluate; returns its record and the evaluated weights.

    ``kept``: the last good checkpoint, named when the loss diverges."""
    t = cfg.train
    lr = learning_rate(t.lr_schedule, t.lr, epoch, t.epochs)
    for group in state.optim.param_groups:
        group["lr"] = lr
    pair.train(True)
    tic = time.perf_counter()
    x = objective.start_epoch(data.train_epoch(state.data_gen))
    n = x.shape[0]
    perm = torch.randperm(n, generator=state.gen)
    hooks.epoch_start(epoch, t.epochs, math.ceil(n / t.batch_size))
    average = state.average
    try:
        total = sgd_epoch(pair, objective, state.optim, x, perm, t.batch_size, ctx, hooks.step,
                          average.update if average is not None else None,
                          1 / (n * t.weight_prior**2) if t.weight_prior else 0.0, t.clip_grad)
    except NonFiniteLoss as exc:
        raise TrainingDiverged(epoch, exc.step, exc.value, kept, exc.detail) from None
    seconds = time.perf_counter() - tic
    evaluate = epoch % t.eval_every == 0 or epoch == t.epochs
    with average.applied() if average is not None else nullcontext():
        pair.train(False)
        scores = objective.scores(pair, data, t.eval_batch_size) if evaluate else {}
        weights = _weights(pair)
    if evaluate and not math.isfinite(scores["test_elbo"]):
        raise TrainingDiverged(epoch, "test evaluation", -scores["test_elbo"], kept)
    record = {"epoch": epoch, **objective.end_epoch(total, n), **scores,
              "seconds": seconds, "lr": lr}
    return record, weights


def train(
    cfg: RunConfig,
    data: TensorData,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    previous: bool = False,
    hooks: Hooks | None = None,
    ctx: Context | None = None,
) -> TrainResult:
    """Train ``cfg``'s pair on ``data``, checkpointing into ``run_dir`` after every epoch;
    ``resume`` continues from the last checkpoint (``previous``: the one before it)."""
    ctx = ctx or Context(device=resolve_device(cfg.train.device))
    hooks = hooks if hooks is not None and ctx.is_main else SilentHooks()
    folder = RunDir(run_dir)

    def own() -> None:  # one process owns the folder; the others read it, never write it
        folder.lock()
        folder.check(resume, PREVIOUS if previous else CHECKPOINT)
        if resume and previous:
            folder.set_aside_last()

    created = ctx.is_main and (not folder.path.exists() or (
        folder.path.is_dir() and not any(folder.path.iterdir())))  # nothing in it to lose
    try:
        ctx.on_main(own)
        return _train(cfg, data, folder, resume, previous, hooks, ctx)
    except BaseException:
        if created:  # a start that failed before its first checkpoint leaves no folder
            folder.discard_if_unused()
        raise
    finally:
        folder.unlock()


def _train(cfg: RunConfig, data: TensorData, folder: RunDir, resume: bool, previous: bool,
           hooks: Hooks, ctx: Context) -> TrainResult:
    data = data.to(ctx.device)
    pair, objective, state = setup(cfg, data, ctx)
    name = PREVIOUS if previous else CHECKPOINT
    saved = restore(folder, name, cfg, data, pair, objective, state, ctx) if resume else {}
    if cfg.train.ema > 0:
        state.average = ParamAverage(pair.parameters(), cfg.train.ema)
        if "average" in saved:
            state.average.load_state_dict(saved["average"])
    info = folder.info_text(cfg, data)
    sel = objective.selection
    best = min((m[sel] for m in state.metrics if sel and sel in m), default=math.inf)
    hooks.run_start(RunStart(folder.path, cfg, data, pair, state.epoch + 1))
    completed = False
    try:
        with pyro.validation_enabled(cfg.train.validate_args):
            for epoch in range(state.epoch + 1, cfg.train.epochs + 1):
                kept = str(folder.checkpoint) if folder.has_checkpoint() else None
                record, weights = run_epoch(epoch, cfg, data, pair, objective, state, ctx,
                                            hooks, kept)
                state.epoch = epoch
                state.metrics.append(record)
                is_best = sel is not None and record.get(sel, math.inf) < best
                best = record[sel] if is_best and sel else best
                saved = checkpoint(cfg, data, pair, objective, state, weights, ctx)
                hooks.epoch_end(record)  # before the checkpoint: a resume redoes the epoch
                if ctx.is_main:
                    folder.save(saved, state.metrics, best=is_best, info=info)
        ctx.barrier()  # the run folder is complete before any process goes on
        completed = True
    finally:
        hooks.run_end(state.metrics, completed)
    if state.average is not None:  # the returned pair holds what the checkpoint holds
        state.average.copy_to_params()
    return TrainResult(folder.path, cfg, pair, state.metrics)
