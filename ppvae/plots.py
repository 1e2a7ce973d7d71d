"""Figures: samples, reconstructions, 2-D manifolds, embeddings, training curves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from ppvae.errors import ConfigError, RunError
from ppvae.latent import (
    class_conditional,
    decode,
    encode_mean,
    latent_site,
    prior_decode,
    reconstruct,
)
from ppvae.pair import Pair


def subplots(figsize: tuple[float, float]) -> tuple[Figure, Any]:
    """A figure and one axes, without pyplot (no global state, any backend)."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def tile(images: torch.Tensor, nrow: int, pad: int = 1) -> torch.Tensor:
    """Tile (N, H, W) images into one (rows*(H+pad), nrow*(W+pad)) canvas."""
    n, h, w = images.shape
    rows = -(-n // nrow)
    canvas = torch.ones(rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, c = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        canvas[top : top + h, left : left + w] = images[i]
    return canvas


def image_figure(canvas: torch.Tensor, title: str, max_inches: float = 7.0) -> Figure:
    """A figure showing one grey canvas (at most ``max_inches`` on its longer side)."""
    h, w = canvas.shape
    scale = min(0.035, max_inches / max(h, w))
    fig, ax = subplots(figsize=(max(3.0, w * scale), max(3.0, h * scale) + 0.4))
    ax.imshow(canvas.clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")
    fig.tight_layout()
    return fig


def samples_figure(
    pair: Pair, n: int, x_dim: int, image_shape: Any, data: torch.Tensor | None
) -> Figure:
    """Decoded means of prior draws (images), or samples over the data (2-D data)."""
    _, px = prior_decode(pair, n, x_dim)
    if image_shape is not None:
        imgs = px.mean.cpu().reshape(n, *image_shape)
        return image_figure(tile(imgs, int(n**0.5 + 0.5)), f"{n} samples: mean of p(x|z), z ~ p(z)")
    xs = px.sample().cpu()
    fig, ax = subplots(figsize=(5, 5))
    if data is not None:
        data = data.cpu()
        ax.scatter(data[:, 0], data[:, 1], s=2, alpha=0.3, label="data")
    ax.scatter(xs[:, 0], xs[:, 1], s=2, alpha=0.3, label="model samples")
    ax.legend()
    ax.set_title("data vs. samples from the model")
    return fig


def reconstructions_figure(pair: Pair, x: torch.Tensor, image_shape: Any) -> Figure:
    """Originals (top of each pair of rows) and reconstructions (below)."""
    rec, x = reconstruct(pair, x).cpu(), x.cpu()
    if image_shape is None:
        fig, ax = subplots(figsize=(5, 5))
        ax.scatter(x[:, 0], x[:, 1], s=4, label="data")
        ax.scatter(rec[:, 0], rec[:, 1], s=4, label="reconstruction")
        ax.legend()
        ax.set_title("data and reconstructions")
        return fig
    n, cols = x.shape[0], min(x.shape[0], 10)
    rows = []
    for start in range(0, n, cols):
        rows += [x[start : start + cols], rec[start : start + cols]]
    imgs = torch.cat(rows).reshape(-1, *image_shape)
    return image_figure(tile(imgs, cols), "originals (odd rows) and reconstructions (even rows)")


def manifold_figure(pair: Pair, grid: int, x_dim: int, image_shape: Any) -> Figure:
    """Decoded means over a grid of z through the inverse Gaussian CDF (K&W 2013, Fig. 4)."""
    site, z_dim = latent_site(pair, torch.zeros(1, x_dim, device=pair.device))
    q = (torch.arange(grid, dtype=torch.float32, device=pair.device) + 0.5) / grid
    u = torch.distributions.Normal(0.0, 1.0).icdf(q)
    if z_dim == 1 and image_shape is None:
        zz = torch.linspace(-2, 2, 201, device=pair.device).unsqueeze(-1)
        px = decode(pair, zz, x_dim, site)
        loc = px.mean.cpu()
        sd = px.variance.sqrt().cpu()
        fig, ax = subplots(figsize=(5, 5))
        ax.plot(loc[:, 0], loc[:, 1], "k-", label="mean of p(x|z), z in [-2, 2]")
        for s in (1.0, 2.0):
            ax.fill_between(loc[:, 0], loc[:, 1] - s * sd[:, 1], loc[:, 1] + s * sd[:, 1],
                            alpha=0.15, color="C0")
        ax.legend()
        ax.set_title("learned curve with ±1, 2 std (y)")
        return fig
    if z_dim != 2 or image_shape is None:
        raise ConfigError(f"manifold needs image data and a 2-D latent; this run has z_dim={z_dim}")
    z1, z2 = torch.meshgrid(u, u.flip(0), indexing="xy")
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=-1)
    imgs = decode(pair, z, x_dim, site).mean.cpu().reshape(-1, *image_shape)
    return image_figure(tile(imgs, grid), f"learned 2-D manifold ({grid}x{grid}, inverse-CDF grid)")


def embedding_figure(pair: Pair, x: torch.Tensor, labels: torch.Tensor | None) -> Figure:
    """Means of q(z|x) in 2-D (first two principal components if z_dim > 2)."""
    m = encode_mean(pair, x).cpu()
    title = "test-set latent means"
    if m.shape[1] > 2:
        centred = m - m.mean(0)
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        m = centred @ v[:2].T
        title += " (first two principal components)"
    elif m.shape[1] == 1:
        m = torch.cat([m, torch.zeros_like(m)], dim=1)
    fig, ax = subplots(figsize=(6, 5.5))
    if labels is not None:
        sc = ax.scatter(m[:, 0], m[:, 1], c=labels.cpu().numpy(), cmap="tab10", s=3, alpha=0.7)
        fig.colorbar(sc, ax=ax, ticks=range(int(labels.max()) + 1), label="label")
    else:
        ax.scatter(m[:, 0], m[:, 1], s=3, alpha=0.7)
    ax.set_title(title)
    return fig


def class_samples_figure(pair: Pair, num_classes: int, n: int, x_dim: int, image_shape: Any,
                         label_site: str = "y",
                         to_images: Callable[[torch.Tensor], tuple[torch.Tensor, Any]] | None
                         = None) -> Figure:
    """Rows: the classes y; columns: prior draws of z shared across the rows.

    ``to_images`` maps non-image data (e.g. VAE features) to images and their shape.
    """
    means = class_conditional(pair, num_classes, n, x_dim, label_site)
    means = means.reshape(num_classes * n, x_dim)
    if to_images is not None:
        means, image_shape = to_images(means)
    if image_shape is None:
        raise ConfigError("class-conditional samples need image data; this run's data are not "
                          "images")
    imgs = means.cpu().reshape(num_classes * n, *image_shape)
    return image_figure(tile(imgs, n), "mean of p(x|y,z): one class y per row, "
                        "the same z down each column")


def confusion_counts(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes, num_classes) counts: row = true class, column = predicted class."""
    if pred.shape != target.shape:
        raise ConfigError(f"predictions {tuple(pred.shape)} and labels {tuple(target.shape)} "
                          "differ in shape")
    for name, t in (("predictions", pred), ("labels", target)):
        if t.numel() and not (0 <= int(t.min()) and int(t.max()) < num_classes):
            raise ConfigError(f"{name} must lie in 0..{num_classes - 1}")
    counts = torch.zeros(num_classes, num_classes, dtype=torch.long)
    counts.index_put_((target.long(), pred.long()), torch.ones_like(target, dtype=torch.long),
                      accumulate=True)
    return counts


def confusion_figure(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> Figure:
    """Counts of (true class, predicted class), rows normalised for the colours."""
    counts = confusion_counts(pred.cpu(), target.cpu(), num_classes)
    rate = counts.float() / counts.sum(1, keepdim=True).clamp(min=1)
    error = 1 - counts.diag().sum().item() / max(1, int(counts.sum()))
    fig, ax = subplots(figsize=(6.5, 5.5))
    im = ax.imshow(rate.numpy(), cmap="Blues", vmin=0, vmax=1)
    for i in range(num_classes):
        for j in range(num_classes):
            if counts[i, j]:
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if rate[i, j] > 0.5 else "black")
    ax.set_xticks(range(num_classes))
    ax.set_yticks(range(num_classes))
    ax.set_xlabel("predicted (argmax q(y|x))")
    ax.set_ylabel("true label")
    ax.set_title(f"confusion matrix: {int(counts.sum())} examples, error {error:.2%}")
    fig.colorbar(im, ax=ax, label="fraction of the true class")
    fig.tight_layout()
    return fig


def save(fig: Figure, path: str | Path) -> Path:
    """Save a figure as PNG and close it."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"figures are PNG files: --out {path} must end in .png")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise RunError(f"cannot write {path} ({exc.strerror or exc}); give --out PATH "
                       "somewhere writable") from None
    return path
