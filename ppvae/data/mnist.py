"""MNIST as in-memory tensors: grey levels in [0, 1] or dynamically binarized."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ppvae.data.base import DataSpec, TensorData, missing_files_error
from ppvae.errors import ConfigError, DataNotFoundError
from ppvae.registry import DATASETS
from ppvae.typed import check_seed

RAW_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


@dataclass(frozen=True)
class MNISTOptions:
    """``pixels``: grey levels or a fresh binarization each epoch; ``n_train``, ``n_test``:
    the first images only; ``hold_out``: the last this many of those training images are
    left out of training, unseen (the validation images of a semi-supervised run on this
    run's features: ``semi.n_valid``); features made from the run still cover them."""

    pixels: Literal["grey", "binarized"] = "grey"
    n_train: int | None = None
    n_test: int | None = None
    test_binarize_seed: int = 0
    hold_out: int = 0

    def validate(self) -> None:
        for name, limit in (("n_train", 60000), ("n_test", 10000)):
            v = getattr(self, name)
            if v is not None and not 1 <= v <= limit:
                raise ConfigError(f"data.{name} must be in 1..{limit}; got {v}")
        check_seed("data.test_binarize_seed", self.test_binarize_seed)
        rows = 60000 if self.n_train is None else self.n_train
        if not 0 <= self.hold_out < rows:
            raise ConfigError(f"data.hold_out must be in 0..{rows - 1} (it leaves at least one "
                              f"of the {rows} training images); got {self.hold_out}")


def _torchvision_mnist(root: Path, train: bool, download: bool) -> tuple[torch.Tensor, ...]:
    from torchvision.datasets import MNIST

    raw = root / "MNIST" / "raw"
    have = all((raw / f).is_file() for f in RAW_FILES)
    if not have and not download:
        raise missing_files_error("MNIST", raw, RAW_FILES, "downloads are off")
    try:
        ds = MNIST(str(root), train=train, download=not have)
    except (OSError, RuntimeError, ValueError, AssertionError, IndexError) as exc:
        if have:  # torchvision checks the files' headers with assert
            raise DataNotFoundError(
                f"the MNIST files in {raw} cannot be read ({type(exc).__name__}: {exc}); they "
                "look damaged or truncated: replace them (see the data README for their md5)"
            ) from None
        raise missing_files_error("MNIST", raw, RAW_FILES, f"download failed: {exc}") from None
    return ds.data, ds.targets


def binarize_fixed(x: torch.Tensor, seed: int) -> torch.Tensor:
    """One Bernoulli draw of ``x`` with a fixed seed."""
    return torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))


@DATASETS.register("mnist", config=MNISTOptions)
def load_mnist(opts: MNISTOptions, root: Path, download: bool) -> TensorData:
    """MNIST 60k/10k (less what the options leave out), 28x28 flattened to 784, labels 0..9."""
    xtr, ytr = _torchvision_mnist(root, True, download)
    xte, yte = _torchvision_mnist(root, False, download)
    keep = (60000 if opts.n_train is None else opts.n_train) - opts.hold_out
    xtr = xtr[:keep].reshape(-1, 784).float().div_(255.0)
    xte = xte[: opts.n_test].reshape(-1, 784).float().div_(255.0)
    binarized = opts.pixels == "binarized"
    if binarized:
        xte = binarize_fixed(xte, opts.test_binarize_seed)
    return TensorData(
        name="mnist",
        spec=DataSpec(x_dim=784, image_shape=(28, 28), num_classes=10),
        x_train=xtr,
        x_test=xte,
        y_train=ytr[:keep].clone(),
        y_test=yte[: opts.n_test].clone(),
        dynamic_binarize=binarized,
    )
