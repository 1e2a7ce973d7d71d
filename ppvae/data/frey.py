"""Frey Face: 1,965 grey 28x20 images scaled to [0, 1], seeded train/test split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ppvae.data.base import DataSpec, TensorData, missing_files_error, split_indices
from ppvae.errors import ConfigError
from ppvae.registry import DATASETS
from ppvae.typed import check_seed

URL = "https://cs.nyu.edu/~roweis/data/frey_rawface.mat"
FILE = "frey_rawface.mat"
MD5 = "b2f1afde6746e1a0b0145859479d791f"
N_IMAGES = 1965


@dataclass(frozen=True)
class FreyOptions:
    """Size of the held-out test set and the seed of the split."""

    n_test: int = 200
    split_seed: int = 0

    def validate(self) -> None:
        if not 1 <= self.n_test < N_IMAGES:
            raise ConfigError(f"data.n_test must be in 1..{N_IMAGES - 1}; got {self.n_test}")
        check_seed("data.split_seed", self.split_seed)


def frey_images(root: Path, download: bool) -> torch.Tensor:
    """All images, uint8 of shape (1965, 28, 20)."""
    from scipy.io import loadmat

    folder = root / "FreyFace"
    path = folder / FILE
    if not path.is_file():
        if not download:
            raise missing_files_error("Frey Face", folder, [FILE], "downloads are off")
        try:
            from torchvision.datasets.utils import download_url

            download_url(URL, str(folder), FILE, MD5)
        except (OSError, RuntimeError, ValueError) as exc:
            path.unlink(missing_ok=True)  # never leave a partial file behind
            raise missing_files_error(
                "Frey Face", folder, [FILE], f"download failed: {exc}"
            ) from None
    try:
        ff = loadmat(str(path))["ff"]
    except (OSError, ValueError, KeyError) as exc:
        reason = f"{path} is unreadable: {exc}"
        raise missing_files_error("Frey Face", folder, [FILE], reason) from None
    return torch.from_numpy(ff.T.reshape(-1, 28, 20).copy())


@DATASETS.register("frey", config=FreyOptions)
def load_frey(opts: FreyOptions, root: Path, download: bool) -> TensorData:
    """Frey Face flattened to 560 values in [0, 1]."""
    x = frey_images(root, download).reshape(-1, 560).float().div_(255.0)
    train, test = split_indices(x.shape[0], opts.n_test, opts.split_seed)
    return TensorData(
        name="frey",
        spec=DataSpec(x_dim=560, image_shape=(28, 20)),
        x_train=x[train],
        x_test=x[test],
    )
