"""Features from a trained VAE (M1 of Kingma et al. 2014): q(z|x) of every image.

When the options name the run's config (``stage1``), ``ppvae.fit`` trains that run first if
it is missing or unfinished, so that M1+M2 is one command; this module only reads it.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch

from ppvae.data.base import DataSpec, TensorData
from ppvae.errors import ConfigError, RunError
from ppvae.registry import DATASETS

BINARIZE_SEED = 0


@dataclass(frozen=True)
class VAEFeaturesOptions:
    """``run``: the feature VAE's run folder; ``stage1``: its TOML config (trains the run
    when missing or unfinished); ``sample``: train on a fresh z ~ q(z|x) each epoch (else
    on the means; validation and test always use the means); ``min_std``: keep only the
    active units, the features whose posterior mean varies over the training images with a
    standard deviation of at least this (0.1 is Burda et al.'s variance > 0.01; 0 keeps
    all; the std is taken over all training images, those the VAE held out included, never
    their labels); ``inputs``: what the encoder reads from binarized MNIST, one fixed binarization
    of every image (``binarized``) or its grey levels (``grey``, as Kingma et al.'s code
    does); other data are read as they are."""

    run: str = ""
    stage1: str | None = None
    sample: bool = True
    min_std: float = 0.0
    inputs: Literal["binarized", "grey"] = "binarized"

    def validate(self) -> None:
        if not self.run:
            raise ConfigError("data.run must name the run folder of the feature VAE (M1)")
        if not (math.isfinite(self.min_std) and self.min_std >= 0):
            raise ConfigError(f"data.min_std must be a finite number >= 0, got {self.min_std}")


def feature_source(run: str) -> str:
    """What features of the VAE run ``run`` record as their source: the run and a digest of
    its checkpoint, so that a run trained on them notices when they change."""
    from ppvae.rundir import RunDir

    path = RunDir(run).checkpoint
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return f"{run} ({path.name} sha256 {digest})"


def upstream_runs(opts: VAEFeaturesOptions) -> list[tuple[str, str]]:
    """``(config, run folder)`` of the run these features come from, when the options name
    its config: whoever trains on the features trains that run first (see ``ppvae.fit``)."""
    return [] if opts.stage1 is None else [(opts.stage1, opts.run)]


def _encode(opts: VAEFeaturesOptions, root: str | os.PathLike[str] | None,
            download: bool | None) -> tuple[Any, Any, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The feature VAE's run, its base data, and q(z|x)'s train means, train sds, test means."""
    from ppvae.data import load_data
    from ppvae.data.mnist import binarize_fixed
    from ppvae.latent import encode_moments
    from ppvae.rundir import load_run_pair

    try:
        run = load_run_pair(opts.run, need=("guide",))
    except RunError as exc:
        hint = "" if opts.stage1 else " (set data.stage1 to a config that trains it)"
        raise RunError(f"feature VAE not available: {exc}{hint}") from None
    if run.config.data.name == "vae_features":
        raise ConfigError(f"data.run = {opts.run} is itself trained on VAE features")
    data = run.config.data
    if opts.inputs == "grey" and getattr(data.options, "pixels", None) == "binarized":
        data = replace(data, options=replace(data.options, pixels="grey"))
    if getattr(data.options, "hold_out", 0):  # features cover the images the VAE did not see
        data = replace(data, options=replace(data.options, hold_out=0))
    base = load_data(data, root, download)
    x_train = base.x_train
    if base.dynamic_binarize:  # the encoder saw binary images: give it one fixed draw
        x_train = binarize_fixed(x_train, BINARIZE_SEED)
    with torch.no_grad():
        loc_train, sd_train = encode_moments(run.pair, x_train)
        loc_test, _ = encode_moments(run.pair, base.x_test)
    return run, base, loc_train, sd_train, loc_test


def active_unit_mask(loc_train: torch.Tensor, min_std: float) -> torch.Tensor:
    """Boolean mask of the features whose mean over q(z|x) has std >= ``min_std`` across
    the training images (all of them when ``min_std`` is 0)."""
    keep = loc_train.std(0) >= min_std
    if not bool(keep.any()):
        raise ConfigError(
            f"no feature of the VAE varies with std >= data.min_std = {min_std} over the "
            f"training images (largest std {float(loc_train.std(0).max()):.3g}); lower it"
        )
    return keep


@DATASETS.register("vae_features", config=VAEFeaturesOptions)
def load_vae_features(opts: VAEFeaturesOptions, root: Path, download: bool) -> TensorData:
    """Mean (and std) of q(z|x) under a trained VAE run, with the base data's labels."""
    run, base, loc_train, sd_train, loc_test = _encode(opts, root, download)
    keep = active_unit_mask(loc_train, opts.min_std)
    kept = int(keep.sum())
    units = "" if opts.min_std == 0 else f", {kept} of {keep.numel()} units"
    units += ", grey inputs" if opts.inputs == "grey" else ""
    return TensorData(
        name=f"vae_features({base.name}{units})",
        source=feature_source(opts.run),
        spec=DataSpec(x_dim=kept, num_classes=base.spec.num_classes),
        x_train=loc_train[:, keep],
        x_test=loc_test[:, keep],
        y_train=base.y_train,
        y_test=base.y_test,
        train_noise=sd_train[:, keep] if opts.sample else None,
        held_out=int(getattr(run.config.data.options, "hold_out", 0)),
    )


def decode_vae_features(
    opts: VAEFeaturesOptions, z: torch.Tensor, root: str | os.PathLike[str] | None = None
) -> tuple[torch.Tensor, tuple[int, int] | None]:
    """Features back to the feature VAE's data space: the mean of its p(x | z). Units left
    out by ``min_std`` are set to 0, their prior mean (finding them reads the data)."""
    from ppvae.latent import decode
    from ppvae.rundir import load_run_pair

    z = z.cpu()  # the feature VAE is read onto the CPU
    run = load_run_pair(opts.run)  # its model too: an export of its encoder only is refused
    if opts.min_std > 0:
        _, _, loc_train, _, _ = _encode(opts, root, None)
        keep = active_unit_mask(loc_train, opts.min_std)
        full = z.new_zeros(z.shape[0], keep.numel())
        full[:, keep] = z
        z = full
    return decode(run.pair, z, run.spec.x_dim).mean, run.spec.image_shape


# mypy < 2 refuses attributes set on a function
load_vae_features.upstream = upstream_runs  # type: ignore[attr-defined, unused-ignore]
load_vae_features.decode = decode_vae_features  # type: ignore[attr-defined, unused-ignore]
