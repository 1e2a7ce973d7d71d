"""Python API: ``fit(config) -> Run`` and ``load(run_dir) -> Run``."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyro
import torch

from ppvae.checkpoint import CHECKPOINT, load_checkpoint, load_pair_state
from ppvae.config import RunConfig, from_dict, load_config
from ppvae.data import load_data, prepare_data
from ppvae.data.base import DataSpec, TensorData
from ppvae.errors import ConfigError, RunError
from ppvae.pair import Pair, build_pair, check_pair
from ppvae.train import METRICS, RUN_JSON, Hooks, check_source, train


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

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """q(y | x) for each row of ``x`` (guides with a label site, e.g. M2)."""
        from ppvae.semi import predict_logits

        site = self.config.semi.label_site if self.config.semi else "y"
        if x.ndim != 2 or x.shape[-1] != self.spec.x_dim:
            raise ConfigError(
                f"this run takes inputs of shape (n, {self.spec.x_dim}) "
                f"({self.config.data.name} data); got {tuple(x.shape)}"
            )
        return predict_logits(self.pair.guide, x, site).softmax(-1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The most probable class under q(y | x) for each row of ``x``."""
        return self.predict_proba(x).argmax(-1)

    def load_data(self, data_dir: str | os.PathLike[str] | None = None) -> TensorData:
        """The run's dataset (same options, same test split); refused if data derived from
        another run (e.g. VAE features) changed since this run was trained."""
        data = load_data(self.config.data, data_dir)
        info = json.loads((self.run_dir / RUN_JSON).read_text())
        check_source(info.get("data_source", ""), data.source, self.run_dir)
        return data


def default_run_dir(cfg: RunConfig, base: str | os.PathLike[str] = "runs") -> Path:
    """``runs/<config name>-<YYYYmmdd-HHMMSS>`` (with a suffix if that folder exists)."""
    path = Path(base) / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = path.with_name(f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}-{suffix}")
    return path


def as_config(config: RunConfig | dict[str, Any] | str | os.PathLike[str]) -> RunConfig:
    """A RunConfig from a RunConfig, a dict or a TOML path."""
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, dict):
        return from_dict(config)
    return load_config(config)


def fit(
    config: RunConfig | dict[str, Any] | str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    data: TensorData | None = None,
    resume: bool = False,
    hooks: Hooks | None = None,
) -> Run:
    """Train a config (object, dict or TOML path) and return the run."""
    cfg = as_config(config)
    if data is None:
        prepare_data(cfg.data, data_dir)
        data = load_data(cfg.data, data_dir)
    run_dir = Path(out) if out is not None else default_run_dir(cfg)
    result = train(cfg, data, run_dir, resume=resume, hooks=hooks)
    result.pair.train(False)
    return Run(result.run_dir, cfg, data.spec, result.pair, result.metrics)


def read_run_info(run_dir: Path) -> tuple[RunConfig, DataSpec]:
    """The config and data spec saved in a run folder."""
    path = run_dir / RUN_JSON
    if not path.is_file():
        raise RunError(f"{run_dir} is not a ppvae run folder (no {RUN_JSON})")
    info = json.loads(path.read_text())
    s = info["spec"]
    spec = DataSpec(
        x_dim=int(s["x_dim"]),
        image_shape=tuple(s["image_shape"]) if s.get("image_shape") else None,
        num_classes=s.get("num_classes"),
    )
    return from_dict(info["config"]), spec


def read_metrics(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The per-epoch records of a run (``metrics.jsonl``; empty if there are none)."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load(run_dir: str | os.PathLike[str], checkpoint: str = CHECKPOINT) -> Run:
    """Rebuild a run's model and guide from a checkpoint (no code is executed from it).

    ``checkpoint``: ``"checkpoint.pt"`` (the last epoch) or ``"best.pt"`` (the best
    validation error of a semi-supervised run).
    """
    run_dir = Path(run_dir)
    cfg, spec = read_run_info(run_dir)
    state = load_checkpoint(run_dir / checkpoint)
    pair = build_pair(cfg, spec)
    load_pair_state(pair, state, run_dir / checkpoint)
    check_pair(pair, torch.zeros(2, spec.x_dim))
    pair.train(False)
    metrics = read_metrics(run_dir)
    return Run(run_dir, cfg, spec, pair, metrics)
