"""Generative models p(z) p_theta(x|z), registered by name (installed as ``ppvae.models``)."""

from ppvae.models.vae import VAE, VAEOptions

__all__ = ["VAE", "VAEOptions"]
