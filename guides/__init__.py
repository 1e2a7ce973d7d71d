"""Amortized guides q_phi(z|x), registered by name (installed as ``ppvae.guides``)."""

from ppvae.guides.m2 import M2Guide, M2GuideOptions
from ppvae.guides.normal import NormalGuide, NormalGuideOptions

__all__ = ["M2Guide", "M2GuideOptions", "NormalGuide", "NormalGuideOptions"]
