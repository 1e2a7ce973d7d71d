"""Generative models p(z) p_theta(x|z), registered by name (installed as ``ppvae.models``)."""

from ppvae.models.m2 import M2, M2Options
from ppvae.models.vae import VAE, VAEOptions

__all__ = ["M2", "M2Options", "VAE", "VAEOptions"]
