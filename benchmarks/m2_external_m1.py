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
import hashlib
import io
import re
import sys
import tarfile
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from benchmarks.common import positive
from ppvae import fit
from ppvae.config import from_dict, load_config
from ppvae.data import load_data
from ppvae.data.base import DataSpec, TensorData
from ppvae.data.features import active_unit_mask
from ppvae.errors import ConfigError, PPVAEError

HEADS = ("mean_w", "mean_b", "logvar_w", "logvar_b")


def read_encoder(path: Path) -> dict[str, torch.Tensor]:
    """The arrays of an ndict archive by name (no pickles are read), checked to chain."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            names = _member(tar, "names.txt").decode().split()
            arrays = np.load(io.BytesIO(_member(tar, "arrays.npz")), allow_pickle=False)
            out = {n: torch.from_numpy(arrays[f"arr_{i}"]).float() for i, n in enumerate(names)}
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise ConfigError(f"{path}: not an encoder archive ({exc})") from None
    layers = _layers(out)
    missing = [n for n in ("w0", *HEADS, *(f"b{i}" for i in layers)) if n not in out]
    if missing or layers != list(range(len(layers))):
        raise ConfigError(f"{path}: the archive lacks {missing or 'w0, w1, ... in order'}; "
                          f"it has {sorted(out)}")
    width = out["w0"].shape[1]
    for name in [*(f"w{i}" for i in layers), "mean_w", "logvar_w"]:
        w, b = out[name], out[name[:-1] + "b" if name.endswith("_w") else f"b{name[1:]}"]
        if w.dim() != 2 or w.shape[1] != width or tuple(b.shape) != (w.shape[0], 1):
            raise ConfigError(f"{path}: {name} has shape {tuple(w.shape)} and its bias "
                              f"{tuple(b.shape)}; expected (n, {width}) and (n, 1)")
        if name.startswith("w"):
            width = w.shape[0]
    if out["mean_w"].shape[0] != out["logvar_w"].shape[0]:
        raise ConfigError(f"{path}: mean_w and logvar_w give different numbers of units")
    return out


def _layers(v: dict[str, torch.Tensor]) -> list[int]:
    return sorted(int(m.group(1)) for k in v if (m := re.fullmatch(r"w(\d+)", k)))


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.extractfile(name)
    if member is None:
        raise KeyError(name)
    return member.read()


def encode(v: dict[str, torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of q(z|x) (weights stored as (out, in), biases (out, 1))."""
    h = x
    for i in _layers(v):
        h = F.softplus(h @ v[f"w{i}"].T + v[f"b{i}"].T)
    mean = h @ v["mean_w"].T + v["mean_b"].T
    return mean, (0.5 * (h @ v["logvar_w"].T + v["logvar_b"].T)).exp()


def features(v: dict[str, torch.Tensor], source: str, min_std: float, sample: bool,
             data_dir: str | None, subset: int | None = None) -> TensorData:
    """MNIST (grey levels; the first ``subset`` training and test images if given) through
    the encoder, the active units kept."""
    mnist: dict[str, object] = {"name": "mnist", "pixels": "grey"}
    if subset:
        mnist.update(n_train=subset, n_test=min(subset, 10000))
    raw = {"data": mnist, "model": {"name": "vae"}, "guide": {"name": "normal"}}
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
    return TensorData(name=f"external_m1({kept} units, grey)", source=source,
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
    p.add_argument("--subset", type=positive, help="only the first N MNIST images (quick checks)")
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config, args.set)
        opts = cfg.data.options
        if cfg.data.name != "vae_features" or cfg.semi is None or opts.inputs != "grey":
            raise ConfigError(f"{args.config}: needs vae_features data with inputs = \"grey\" "
                              "(the encoder reads grey levels) and a [semi] table")
        if not args.weights.is_file():
            raise ConfigError(f"{args.weights}: no such file")
        digest = hashlib.sha256(args.weights.read_bytes()).hexdigest()[:16]
        data = features(read_encoder(args.weights), f"external-m1:{digest}", opts.min_std,
                        opts.sample, args.data_dir, args.subset)
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
