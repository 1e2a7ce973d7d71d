"""M2 on the features of an M1 encoder trained elsewhere, e.g. the weights published with
Kingma et al.'s code (nips14-ssl, ``models/mnist_z_x_50-500-500_longrun/v.ndict.tar.gz``).

    python -m benchmarks.m2_external_m1 --weights v.ndict.tar.gz --config CONFIG --out RUN

The archive holds ``names.txt`` and ``arrays.npz`` (the encoder's ``w0, b0, w1, b1, ...,
mean_w, mean_b, logvar_w, logvar_b``; softplus hidden layers, q(z|x) = N(mean, exp(logvar))).
The encoder reads MNIST's grey levels; as the ``vae_features`` data do, units whose mean
varies with std >= ``data.min_std`` are kept and z ~ q(z|x) is redrawn every epoch when
``data.sample``. The config's model, guide, train and semi tables then train as ``ppvae
ssl`` (``--resume`` continues). Prints the best validation error and the test error there.
The run folder's config still names ``data.run``, so only this script reads it correctly.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tarfile
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ppvae import fit
from ppvae.config import from_dict, load_config
from ppvae.data import load_data
from ppvae.data.base import DataSpec, TensorData
from ppvae.data.features import active_unit_mask
from ppvae.errors import ConfigError, PPVAEError

HEADS = ("mean_w", "mean_b", "logvar_w", "logvar_b")


def read_encoder(path: Path) -> dict[str, torch.Tensor]:
    """The arrays of an ndict archive by name (no pickles are read)."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            names = _member(tar, "names.txt").decode().split()
            arrays = np.load(io.BytesIO(_member(tar, "arrays.npz")), allow_pickle=False)
            out = {n: torch.from_numpy(arrays[f"arr_{i}"]).float() for i, n in enumerate(names)}
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise ConfigError(f"{path}: not an encoder archive ({exc})") from None
    missing = [n for n in ("w0", "b0", *HEADS) if n not in out]
    if missing:
        raise ConfigError(f"{path}: the archive lacks {missing}; it has {sorted(out)}")
    return out


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.extractfile(name)
    if member is None:
        raise KeyError(name)
    return member.read()


def encode(v: dict[str, torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of q(z|x) (weights stored as (out, in), biases (out, 1))."""
    layers = sorted(int(m.group(1)) for k in v if (m := re.fullmatch(r"w(\d+)", k)))
    h = x
    for i in layers:
        h = F.softplus(h @ v[f"w{i}"].T + v[f"b{i}"].T)
    mean = h @ v["mean_w"].T + v["mean_b"].T
    return mean, (0.5 * (h @ v["logvar_w"].T + v["logvar_b"].T)).exp()


def features(v: dict[str, torch.Tensor], min_std: float, sample: bool,
             data_dir: str | None) -> TensorData:
    """MNIST (grey levels) through the encoder, the active units kept."""
    raw = {"data": {"name": "mnist", "pixels": "grey"}, "model": {"name": "vae"},
           "guide": {"name": "normal"}}
    base = load_data(from_dict(raw).data, data_dir)
    if v["w0"].shape[1] != base.spec.x_dim:
        raise ConfigError(f"the encoder reads {v['w0'].shape[1]} inputs; MNIST has "
                         f"{base.spec.x_dim}")
    with torch.no_grad():
        loc_train, sd_train = encode(v, base.x_train)
        loc_test, _ = encode(v, base.x_test)
    keep = active_unit_mask(loc_train, min_std)
    kept = int(keep.sum())
    print(f"external M1: {kept} of {keep.numel()} units kept", flush=True)
    return TensorData(name=f"external_m1({kept} units, grey)", source="external-m1",
                      spec=DataSpec(x_dim=kept, num_classes=base.spec.num_classes),
                      x_train=loc_train[:, keep], x_test=loc_test[:, keep],
                      y_train=base.y_train, y_test=base.y_test,
                      train_noise=sd_train[:, keep] if sample else None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", type=Path, required=True, help="the encoder's ndict archive")
    p.add_argument("--config", required=True, help="an M1+M2 config (vae_features data)")
    p.add_argument("--out", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--data-dir")
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config, args.set)
        opts = cfg.data.options
        if cfg.data.name != "vae_features" or cfg.semi is None:
            raise ConfigError(f"{args.config}: needs vae_features data and a [semi] table")
        data = features(read_encoder(args.weights), opts.min_std, opts.sample, args.data_dir)
        run = fit(cfg, out=args.out, data=data, resume=args.resume)
    except PPVAEError as exc:
        print(f"m2_external_m1: error: {exc}", file=sys.stderr)
        return exc.exit_code
    scored = [m for m in run.metrics if "valid_error" in m]
    if not scored:
        print("no validation error was measured (semi.n_valid = 0 or no evaluated epoch)")
        return 0
    best = min(scored, key=lambda m: m["valid_error"])
    print(f"best validation error {best['valid_error']:.2%} at epoch {best['epoch']}, "
          f"test error there {best['test_error']:.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
