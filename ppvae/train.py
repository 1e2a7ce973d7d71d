"""The one generic trainer: any registered model/guide pair, any ELBO, SVI with one Adam."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyro
import torch

from ppvae.averaging import ParamAverage
from ppvae.checkpoint import (
    CHECKPOINT,
    atomic_save,
    atomic_write_text,
    load_checkpoint,
    load_pair_state,
)
from ppvae.config import RunConfig, from_dict
from ppvae.data.base import TensorData
from ppvae.errors import RunError, TrainingDiverged
from ppvae.objectives import ElboObjective, Objective, elbo_objective
from ppvae.pair import Pair, build_pair, check_pair
from ppvae.schedules import learning_rate
from ppvae.semi import SemiSupervisedObjective, classification_error, split_for

METRICS = "metrics.jsonl"
BEST = "best.pt"
RUN_JSON = "run.json"


class Hooks(Protocol):
    """Progress callbacks (the CLI draws a progress bar with them)."""

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step(self, loss_per_example: float) -> None: ...
    def epoch_end(self, record: dict[str, Any]) -> None: ...


class SilentHooks:
    """Hooks that do nothing."""

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        pass

    def step(self, loss_per_example: float) -> None:
        pass

    def epoch_end(self, record: dict[str, Any]) -> None:
        pass


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


def sgd_epoch(
    pair: Pair,
    objective: Objective,
    optim: torch.optim.Optimizer,
    x: torch.Tensor,
    perm: torch.Tensor,
    batch_size: int,
    on_step: Callable[[float], None] | None = None,
    after_step: Callable[[], None] | None = None,
) -> float:
    """One pass of SVI steps over ``x`` in the order ``perm``; returns the summed loss.

    The last batch may be short. Raises :class:`NonFiniteLoss` before stepping on a bad loss.
    ``after_step`` runs after every optimizer step (e.g. a parameter average's update).
    """
    total = 0.0
    for step, idx in enumerate(perm.split(batch_size), start=1):
        try:
            loss = objective(pair.model, pair.guide, x[idx], None)
        except ValueError as exc:  # distribution validation (train.validate_args) on NaN
            raise NonFiniteLoss(step, float("nan"), str(exc).splitlines()[0]) from exc
        value = loss.item()
        if not math.isfinite(value):
            raise NonFiniteLoss(step, value)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if after_step is not None:
            after_step()
        total += value
        if on_step is not None:
            on_step(value / idx.numel())
    return total


def make_optimizer(
    params: list[torch.nn.Parameter], lr: float, eps: float = 1e-8
) -> torch.optim.Optimizer:
    """One Adam over all parameters, fused when this torch build supports it."""
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)


def check_source(saved: str, current: str, run_dir: Path) -> None:
    """Refuse data derived from another run (e.g. VAE features) that changed since."""
    if saved != current:
        raise RunError(
            f"the data of {run_dir} changed since it was trained: it was trained on "
            f"{saved or 'plain data'}, the data are now {current or 'plain data'}"
        )


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """A resumed run needs its checkpoint; a new run needs an unused folder."""
    if resume:
        if not (run_dir / CHECKPOINT).is_file():
            raise RunError(f"nothing to resume: no checkpoint at {run_dir / CHECKPOINT}")
    elif (run_dir / CHECKPOINT).exists() or (run_dir / RUN_JSON).exists():
        raise RunError(
            f"{run_dir} already holds a run; continue it with --resume "
            "(resume=True) or choose another output folder"
        )


def write_run_json(run_dir: Path, cfg: RunConfig, data: TensorData) -> None:
    """The config and data shape needed to rebuild the pair without the data."""
    spec = data.spec
    info = {
        "config": cfg.to_dict(),
        "data_source": data.source,
        "spec": {
            "x_dim": spec.x_dim,
            "image_shape": list(spec.image_shape) if spec.image_shape else None,
            "num_classes": spec.num_classes,
        },
    }
    atomic_write_text(run_dir / RUN_JSON, json.dumps(info, indent=2))


def _weights(pair: Pair) -> dict[str, dict[str, torch.Tensor]]:
    """Copies of the model's and guide's current weights."""
    return {name: {k: v.detach().clone() for k, v in module.state_dict().items()}
            for name, module in (("model", pair.model), ("guide", pair.guide))}


def _evaluate(
    pair: Pair,
    objective: ElboObjective | SemiSupervisedObjective,
    data: TensorData,
    batch_size: int,
    labelled: tuple[str, torch.Tensor, torch.Tensor] | None,
) -> dict[str, float]:
    """Test ELBO; with ``(label site, x_valid, y_valid)`` also validation and test error."""
    out = {"test_elbo": objective.evaluate(pair, data.x_test, None, batch_size)}
    if labelled is not None:
        site, x_valid, y_valid = labelled
        if y_valid.numel():
            out["valid_error"] = classification_error(pair.guide, x_valid, y_valid, site)
        if data.y_test is not None:
            out["test_error"] = classification_error(pair.guide, data.x_test, data.y_test, site)
    return out


def _write_metrics(run_dir: Path, metrics: list[dict[str, Any]]) -> None:
    atomic_write_text(run_dir / METRICS, "".join(json.dumps(m) + "\n" for m in metrics))


def train(
    cfg: RunConfig,
    data: TensorData,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    hooks: Hooks | None = None,
) -> TrainResult:
    """Train ``cfg``'s pair on ``data``, checkpointing into ``run_dir`` after every epoch."""
    hooks = hooks or SilentHooks()
    run_dir = Path(run_dir)
    check_run_dir(run_dir, resume)
    ckpt_path = run_dir / CHECKPOINT
    t = cfg.train
    pyro.clear_param_store()
    pyro.set_rng_seed(t.seed)
    gen = torch.Generator().manual_seed(t.seed)

    pair = build_pair(cfg, data.spec)
    check_pair(pair, data.x_train, None)
    objective = elbo_objective(cfg, pair)
    split = None
    if cfg.semi is not None:
        split = split_for(cfg.semi, data.y_train, data.spec.num_classes)
        objective = SemiSupervisedObjective(
            objective, cfg.semi, data.x_train[split.labelled], data.y_train[split.labelled],
            split.unlabelled.numel(), t.batch_size, t.seed + 1,
        )
        x_valid = data.x_train[split.valid]
        if data.dynamic_binarize:  # like the test set: one fixed draw
            x_valid = torch.bernoulli(x_valid, generator=torch.Generator().manual_seed(t.seed))
        y_valid = data.y_train[split.valid]
        labelled_eval = (cfg.semi.label_site, x_valid, y_valid)
    else:
        labelled_eval = None
    optim = make_optimizer(pair.parameters(), t.lr, t.adam_eps)
    metrics: list[dict[str, Any]] = []
    start_epoch = 1
    if resume:
        state = load_checkpoint(ckpt_path)
        saved = from_dict(json.loads(state["config"]))
        if saved.model != cfg.model or saved.guide != cfg.guide or saved.data != cfg.data:
            raise RunError(
                f"{run_dir} was trained with another data/model/guide config; "
                "resume it with its own config"
            )
        check_source(state.get("data_source", ""), data.source, run_dir)
        if saved.train.lr_schedule == "burda_scaled" and saved.train.epochs != t.epochs:
            raise RunError(
                f"{run_dir} uses lr_schedule 'burda_scaled', which spreads its stages over "
                f"train.epochs: resuming with {t.epochs} instead of {saved.train.epochs} "
                "epochs would change the learning rates of the epochs already trained"
            )
        load_pair_state(pair, state, ckpt_path)
        if "live" in state:  # trained with an average: the saved weights are the average
            load_pair_state(pair, state["live"], ckpt_path)
        optim.load_state_dict(state["optim"])
        if "objective" in state and hasattr(objective, "load_state_dict"):
            objective.load_state_dict(state["objective"])
        torch.set_rng_state(state["rng"])
        gen.set_state(state["gen"])
        metrics = json.loads(state["metrics"])
        start_epoch = int(state["epoch"]) + 1
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
    write_run_json(run_dir, cfg, data)
    _write_metrics(run_dir, metrics)
    average = ParamAverage(pair.parameters(), t.ema) if t.ema > 0 else None
    if average is not None and resume and "average" in state:
        average.load_state_dict(state["average"])

    with pyro.validation_enabled(t.validate_args):
        n = data.n_train if split is None else split.unlabelled.numel()
        steps = math.ceil(n / t.batch_size)
        best_valid = min((m["valid_error"] for m in metrics if "valid_error" in m),
                         default=math.inf)
        for epoch in range(start_epoch, t.epochs + 1):
            hooks.epoch_start(epoch, t.epochs, steps)
            lr = learning_rate(t.lr_schedule, t.lr, epoch, t.epochs)
            for group in optim.param_groups:
                group["lr"] = lr
            pair.train(True)
            tic = time.perf_counter()
            x_epoch = data.train_epoch(gen)
            if split is not None:
                objective.start_epoch(x_epoch[split.labelled])
                x_epoch = x_epoch[split.unlabelled]
            perm = torch.randperm(n, generator=gen)
            if split is not None:
                objective.reset_totals()
            try:
                total = sgd_epoch(pair, objective, optim, x_epoch, perm, t.batch_size, hooks.step,
                                  average.update if average is not None else None)
            except NonFiniteLoss as exc:
                kept = str(ckpt_path) if ckpt_path.is_file() else None
                raise TrainingDiverged(epoch, exc.step, exc.value, kept, exc.detail) from None
            seconds = time.perf_counter() - tic
            with average.applied() if average is not None else nullcontext():
                pair.train(False)
                scores = _evaluate(pair, objective, data, t.eval_batch_size, labelled_eval)
                weights = _weights(pair)
            test_elbo = scores.pop("test_elbo")
            if not math.isfinite(test_elbo):
                kept = str(ckpt_path) if ckpt_path.is_file() else None
                raise TrainingDiverged(epoch, "test evaluation", -test_elbo, kept)
            record = {"epoch": epoch, "train_elbo": -total / n, "test_elbo": test_elbo,
                      "seconds": seconds, "lr": lr}
            if split is not None:
                record["train_elbo"] = -objective.unlabelled_total / n  # the ELBO alone
                record["train_objective"] = -total / n
            record.update(scores)
            metrics.append(record)
            state = {
                    "format": 1,
                    "epoch": epoch,
                    **weights,
                    "optim": optim.state_dict(),
                    "rng": torch.get_rng_state(),
                    "gen": gen.get_state(),
                    "config": json.dumps(cfg.to_dict()),
                    "data_source": data.source,
                    "metrics": json.dumps(metrics),
                    **({"objective": objective.state_dict()}
                       if hasattr(objective, "state_dict") else {}),
                    **({"live": _weights(pair), "average": average.state_dict()}
                       if average is not None else {}),
            }
            if record.get("valid_error", math.inf) < best_valid:  # model selection
                best_valid = record["valid_error"]
                atomic_save(state, run_dir / BEST)  # before the last checkpoint moves on
            atomic_save(state, ckpt_path)
            _write_metrics(run_dir, metrics)
            hooks.epoch_end(record)
    if average is not None:  # the returned pair holds what the checkpoint holds
        average.copy_to_params()
    return TrainResult(run_dir, cfg, pair, metrics)
