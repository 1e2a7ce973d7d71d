"""Python API: ``fit(config) -> Run`` and ``load(run_dir) -> Run``; the CLI calls the same."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyro
import torch

from ppvae.config import Component, RunConfig, from_dict, load_config
from ppvae.data import load_data
from ppvae.data.base import DataSpec, TensorData
from ppvae.distributed import Context, setup, teardown
from ppvae.errors import ConfigError, RunError
from ppvae.pair import Pair
from ppvae.registry import DATASETS
from ppvae.rundir import CHECKPOINT, PREVIOUS, RunDir, check_source, config_of_run, load_run_pair
from ppvae.train import HookList, Hooks, train


@dataclass
class Run:
    """A trained (or loaded) run: config, data shape, model/guide pair and metrics."""

    run_dir: Path
    config: RunConfig
    spec: DataSpec
    pair: Pair
    metrics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def model(self) -> pyro.nn.PyroModule:
        return self.pair.model

    @property
    def guide(self) -> pyro.nn.PyroModule:
        return self.pair.guide

    @property
    def device(self) -> torch.device:
        return self.pair.device

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """q(y | x) for each row of ``x`` (guides with a label site, e.g. M2)."""
        from ppvae.evaluation import predict_logits

        site = self.config.semi.label_site if self.config.semi else "y"
        if x.ndim != 2 or x.shape[-1] != self.spec.x_dim:
            raise ConfigError(
                f"this run takes inputs of shape (n, {self.spec.x_dim}) "
                f"({self.config.data.name} data); got {tuple(x.shape)}"
            )
        return predict_logits(self.pair.guide, x.to(self.device), site).softmax(-1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The most probable class under q(y | x) for each row of ``x``."""
        return self.predict_proba(x).argmax(-1)

    def load_data(self, data_dir: str | os.PathLike[str] | None = None) -> TensorData:
        """The run's dataset (same options, same test split) on the run's device; refused if
        data derived from another run (e.g. VAE features) changed since this run was
        trained."""
        data = load_data(self.config.data, data_dir)
        check_source(RunDir(self.run_dir).read_info().data_source, data.source, self.run_dir)
        return data.to(self.device)

    def evaluate(self, k: int = 1000, n: int | None = None, *,
                 data_dir: str | os.PathLike[str] | None = None, data: TensorData | None = None,
                 progress: Any = None) -> dict[str, Any]:
        """Test ELBO, importance-sampled log p(x) with ``k`` samples per example, and the test
        error of a semi-supervised run, over the first ``n`` test examples (all by default)."""
        from ppvae.evaluation import evaluate_pair
        from ppvae.objectives import elbo_objective

        data = (data or self.load_data(data_dir)).to(self.device)
        if n is not None and not 2 <= n:
            raise ConfigError(f"evaluate needs n >= 2 test examples; got {n}")
        x = data.x_test[:n]
        semi = self.config.semi
        y = data.y_test[:n] if semi is not None and data.y_test is not None else None
        out = evaluate_pair(
            self.pair, elbo_objective(self.config, self.pair).elbo, x, k=k,
            batch_size=self.config.train.eval_batch_size, y=y,
            label_site=semi.label_site if semi is not None else None, progress=progress)
        return {"run": str(self.run_dir), **out}


def default_run_dir(cfg: RunConfig, base: str | os.PathLike[str] = "runs") -> Path:
    """``runs/<config name>-<YYYYmmdd-HHMMSS>`` (with a suffix if taken), created here, so
    that two runs started in the same second never share it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in range(1, 1000):
        path = Path(base) / (f"{cfg.name}-{stamp}" + (f"-{suffix}" if suffix > 1 else ""))
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunError(f"cannot create the run folder {path}: {exc}") from None
    raise RunError(f"cannot create a new run folder in {base} (is it a folder?)")


def as_config(config: RunConfig | dict[str, Any] | str | os.PathLike[str]) -> RunConfig:
    """A RunConfig from a RunConfig, a dict or a TOML path."""
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, dict):
        return from_dict(config)
    return load_config(config)


def upstream_work(data: Component) -> list[tuple[RunConfig, str, bool]]:
    """The runs a dataset derives from (e.g. M1 before M2 on its features) that are missing
    or unfinished: ``(config, run folder, resume)`` each."""
    upstream = getattr(DATASETS.get(data.name), "upstream", None)
    work = []
    for config_path, run_path in upstream(data.options) if upstream is not None else []:
        stage = load_config(config_path)
        folder = RunDir(run_path)
        if folder.holds_weights_only():  # an export (e.g. pretrained/) is used as it is
            continue
        if folder.has_checkpoint():
            state = folder.load()
            saved = config_of_run(json.loads(state["config"]), folder.checkpoint)
            if (saved.data, saved.model, saved.guide) != (stage.data, stage.model, stage.guide):
                raise RunError(
                    f"data.run = {run_path} holds a run trained with another data/model/guide "
                    f"config than data.stage1 = {config_path}; point data.run at another folder")
            if int(state["epoch"]) >= stage.train.epochs:
                continue
        elif folder.file(PREVIOUS).is_file():
            raise RunError(
                f"data.run = {run_path} has lost its last checkpoint but keeps the previous "
                f"one: finish it with ppvae train --resume --previous --out {run_path}")
        work.append((stage, run_path, folder.has_checkpoint()))
    return work


def prepare(data: Component, data_dir: str | os.PathLike[str] | None = None,
            hooks: Hooks | None = None, ctx: Context | None = None) -> None:
    """Train (or finish) the runs a dataset derives from; under several processes the main
    one decides which, and every process trains its share."""
    ctx = ctx or Context()
    for stage, path, again in ctx.broadcast(ctx.on_main(lambda: upstream_work(data))):
        fit(stage, out=path, data_dir=data_dir, resume=again, hooks=hooks)


def fit(
    config: RunConfig | dict[str, Any] | str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    data: TensorData | None = None,
    resume: bool = False,
    previous: bool = False,
    hooks: Hooks | None = None,
    upstream_hooks: Hooks | None = None,
) -> Run:
    """Train a config (object, dict or TOML path) and return the run.

    Started by ``torchrun`` with several processes, each process calls ``fit`` and trains
    its share of every batch (see the README's "Scaling out"). ``resume`` continues the run
    in ``out`` from its last checkpoint, or with ``previous`` from the one before it (kept in
    case the last is damaged). ``upstream_hooks`` report the training of runs the data derive
    from (M1 before M1+M2).
    """
    cfg = as_config(config)
    if previous and not resume:
        raise ConfigError("previous=True goes with resume=True")
    if cfg.train.tensorboard:  # a hook of the epoch loop; the trainer knows nothing of it
        from ppvae.tensorboard import TensorBoardHooks

        hooks = HookList([h for h in (hooks, TensorBoardHooks()) if h is not None])
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    ctx, joined = setup(cfg.train.device)
    completed = False
    try:
        run_dir = Path(out) if out is not None else \
            ctx.broadcast(ctx.on_main(lambda: default_run_dir(cfg)))
        name = PREVIOUS if previous else CHECKPOINT
        ctx.on_main(lambda: RunDir(run_dir).check(resume, name))  # before any upstream run
        if data is None:  # the main process decides; every process trains its share
            prepare(cfg.data, data_dir, upstream_hooks, ctx)
            main_data = ctx.on_main(lambda: load_data(cfg.data, data_dir))  # downloads once
            data = main_data if main_data is not None else load_data(cfg.data, data_dir)
        result = train(cfg, data, run_dir, resume=resume, previous=previous, hooks=hooks,
                       ctx=ctx)
        completed = True
    finally:
        teardown(joined, completed)
    result.pair.train(False)
    return Run(result.run_dir, cfg, data.spec, result.pair, result.metrics)


def read_run_info(run_dir: Path) -> tuple[RunConfig, DataSpec]:
    """The config and data spec saved in a run folder."""
    info = RunDir(run_dir).read_info()
    return info.config, info.spec


def read_metrics(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The per-epoch records of a run (``metrics.jsonl``; empty if there are none)."""
    return RunDir(run_dir).read_metrics()


def load(run_dir: str | os.PathLike[str], checkpoint: str = CHECKPOINT,
         device: torch.device | str = "cpu") -> Run:
    """Rebuild a run's model and guide on ``device`` from a checkpoint (no code is executed
    from it).

    ``checkpoint``: ``"checkpoint.pt"`` (the last epoch) or ``"best.pt"`` (the best
    validation error of a semi-supervised run). ``device``: as ``train.device``.
    """
    from ppvae.distributed import resolve_device

    loaded = load_run_pair(run_dir, checkpoint, resolve_device(str(device)))
    metrics = RunDir(run_dir).read_metrics()
    return Run(loaded.path, loaded.config, loaded.spec, loaded.pair, metrics)


__all__ = ["Run", "default_run_dir", "fit", "load", "prepare", "read_metrics", "read_run_info"]
