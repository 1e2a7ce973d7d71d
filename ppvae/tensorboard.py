"""TensorBoard logs of a training run (``train.tensorboard``): a hook of the epoch loop.

Every epoch: each number of the epoch's record (train and test ELBO, learning rate, seconds,
validation and test error of semi-supervised runs) under its ``metrics.jsonl`` name. Every
``train.image_every`` epochs and at the last: pictures of the model. At the end: the config
as hparams with the final metrics. A resumed run appends to the same logs; events of epochs
that are trained again are purged (``purge_step``), so no step is logged twice.
"""

from __future__ import annotations

from typing import Any

import torch

from ppvae.errors import ConfigError
from ppvae.train import RunStart, SilentHooks

LOG_DIR = "tb"
EXTRA = 'pip install "ppvae[tensorboard]"'


def _writer_class() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("train.tensorboard asks for TensorBoard logs, but the tensorboard "
                          f"package is not installed: {EXTRA}") from None
    return SummaryWriter


def flat_config(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as ``section.key`` -> bool, number or string (lists as strings)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat_config(v, f"{prefix}{k}."))
        elif isinstance(v, (bool, int, float, str)):
            out[f"{prefix}{k}"] = v
        else:
            out[f"{prefix}{k}"] = str(v)
    return out


class TensorBoardHooks(SilentHooks):
    """Writes ``RUN/tb`` event files as training goes."""

    def __init__(self) -> None:
        self.writer_class = _writer_class()
        self.writer: Any = None
        self.start: RunStart | None = None

    def run_start(self, start: RunStart) -> None:
        self.start = start
        self.image_every, self.epochs = start.config.train.image_every, start.config.train.epochs
        self.writer = self.writer_class(str(start.run_dir / LOG_DIR),
                                        purge_step=start.first_epoch)

    def epoch_end(self, record: dict[str, Any]) -> None:
        epoch = int(record["epoch"])
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, epoch)
        if epoch % self.image_every == 0 or epoch == self.epochs:
            self.pictures(epoch)
        self.writer.flush()

    def pictures(self, epoch: int) -> None:
        """Samples and reconstructions (images), the manifold (2-D latent) or the sample
        scatter (2-D data), drawn with a fixed seed without touching training's streams."""
        from ppvae import plots
        from ppvae.latent import latent_site

        if self.start is None:
            raise RuntimeError("TensorBoardHooks.pictures before run_start")
        pair, data = self.start.pair, self.start.data
        spec = data.spec
        devices = [pair.device] if pair.device.type == "cuda" else []
        was_training = pair.model.training
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(0)
            pair.train(False)
            try:
                if spec.image_shape is not None:
                    self.writer.add_figure(
                        "samples", plots.samples_figure(pair, 64, spec.x_dim, spec.image_shape,
                                                        None), epoch)
                    self.writer.add_figure(
                        "reconstructions",
                        plots.reconstructions_figure(pair, data.x_test[:30], spec.image_shape),
                        epoch)
                    if latent_site(pair, data.x_test[:1])[1] == 2:
                        self.writer.add_figure(
                            "manifold", plots.manifold_figure(pair, 15, spec.x_dim,
                                                              spec.image_shape), epoch)
                elif spec.x_dim == 2:
                    self.writer.add_figure(
                        "samples", plots.samples_figure(pair, 1000, 2, None,
                                                        data.x_test[:1000]), epoch)
            except ConfigError:  # a pair these pictures do not fit (e.g. two latent sites)
                pass
            finally:
                pair.train(was_training)

    def run_end(self, metrics: list[dict[str, Any]], completed: bool) -> None:
        if self.writer is None:
            return
        if completed and metrics and self.start is not None:
            final = {f"final/{k}": v for k, v in metrics[-1].items()
                     if k != "epoch" and isinstance(v, (int, float))}
            self.writer.add_hparams(flat_config(self.start.config.to_dict()), final, run_name=".",
                                    global_step=int(metrics[-1]["epoch"]))
        self.writer.close()
