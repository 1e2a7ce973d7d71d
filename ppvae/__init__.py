"""ppvae: variational autoencoders as Pyro programs (separate model and guide, trained by SVI)."""

from ppvae import data, elbos, guides, models  # noqa: F401  (register the built-ins)
from ppvae.api import Run, fit, load
from ppvae.config import RunConfig, load_config
from ppvae.registry import DATASETS, ELBOS, GUIDES, MODELS

__all__ = [
    "DATASETS", "ELBOS", "GUIDES", "MODELS", "Run", "RunConfig", "fit", "load", "load_config",
]
__version__ = "0.1.0"
