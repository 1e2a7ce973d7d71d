"""Write the notebooks from their cell sources (run: python notebooks/make_notebooks.py)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

TOY2D = [
    new_markdown_cell(
        "# The 2-D toy density with a 1-D latent\n\n"
        "The talk's demo: data on a noisy arc, $z \\sim U(0,1)$, $r=\\sqrt z$, "
        "$\\varphi = \\tfrac{\\pi}{4} z$, $x = (r\\cos\\varphi, r\\sin\\varphi) + "
        "\\mathcal N(0, (0.1 z^2)^2 I)$.\n\n"
        "A VAE with a **1-D latent** $z\\sim\\mathcal N(0,1)$ and a Gaussian decoder whose "
        "mean *and* per-dimension variance are learned, trained by Pyro SVI "
        "(`TraceMeanField_ELBO`) through `ppvae.fit`. `PPVAE_NB_EPOCHS` sets the "
        "length; `PPVAE_NB_QUICK=1` makes a 2-epoch run on a subset (for checks)."
    ),
    new_code_cell(
        "import os\n"
        "import tempfile\n"
        "from pathlib import Path\n\n"
        "import matplotlib.pyplot as plt\n"
        "import torch\n\n"
        "import ppvae\n"
        "from ppvae.data.toy2d import curve\n"
        "from ppvae.latent import decode, reconstruct\n"
        "\n"
        "QUICK = os.environ.get('PPVAE_NB_QUICK') == '1'  # checks: 2 epochs, fewer points\n"
        "EPOCHS = int(os.environ.get('PPVAE_NB_EPOCHS') or (2 if QUICK else 60))\n"
        "config = ppvae.load_config(Path('..') / 'configs' / 'toy2d.toml')\n"
        "config = config.replace([f'train.epochs={EPOCHS}']\n"
        "                        + (['data.n_train=1000', 'data.n_test=500'] if QUICK else []))\n"
        "run_dir = Path(tempfile.mkdtemp(prefix='ppvae-toy2d-'))\n"
        "run = ppvae.fit(config, out=run_dir)\n"
        "data = run.load_data()\n"
        "last = run.metrics[-1]\n"
        "print(f\"{EPOCHS} epochs: train ELBO {last['train_elbo']:.3f}, \"\n"
        "      f\"test ELBO {last['test_elbo']:.3f} nats per point\")"
    ),
    new_markdown_cell("## Training curve"),
    new_code_cell(
        "ep = [m['epoch'] for m in run.metrics]\n"
        "plt.plot(ep, [m['train_elbo'] for m in run.metrics], label='train ELBO')\n"
        "plt.plot(ep, [m['test_elbo'] for m in run.metrics], label='test ELBO')\n"
        "plt.xlabel('epoch'); plt.ylabel('nats per point'); plt.legend(); plt.show()"
    ),
    new_markdown_cell(
        "## Data cloud vs. reconstructions\n\n"
        "Each test point is encoded ($z\\sim q(z|x)$) and decoded to the mean of $p(x|z)$: "
        "reconstructions fall on the learned 1-D curve."
    ),
    new_code_cell(
        "x = data.x_test[:1000]\n"
        "rec = reconstruct(run.pair, x)\n"
        "fig, ax = plt.subplots(1, 2, figsize=(10, 4.5), sharex=True, sharey=True)\n"
        "ax[0].scatter(x[:, 0], x[:, 1], s=3, alpha=0.5); ax[0].set_title('test data')\n"
        "ax[1].scatter(x[:, 0], x[:, 1], s=3, alpha=0.15, label='data')\n"
        "ax[1].scatter(rec[:, 0], rec[:, 1], s=3, c='C3', label='reconstruction')\n"
        "ax[1].legend(); ax[1].set_title('reconstructions'); plt.show()"
    ),
    new_markdown_cell(
        "## The decoded curve for $z \\in [-2, 2]$ and its learned variance\n\n"
        "Colour is $z$; the bars are $\\pm 2\\sigma(z)$ of the decoder per coordinate. "
        "The true generating curve is dashed. The learned variance grows along the arc, "
        "as the data's noise $0.1 z^2$ does."
    ),
    new_code_cell(
        "zz = torch.linspace(-2, 2, 41).unsqueeze(-1)\n"
        "px = decode(run.pair, zz, x_dim=2)\n"
        "loc, sd = px.mean, px.variance.sqrt()\n"
        "true = curve(torch.linspace(0, 1, 200))\n"
        "fig, ax = plt.subplots(1, 2, figsize=(11, 4.5))\n"
        "ax[0].scatter(x[:, 0], x[:, 1], s=2, alpha=0.1, c='grey')\n"
        "ax[0].errorbar(loc[:, 0], loc[:, 1], xerr=2 * sd[:, 0], yerr=2 * sd[:, 1], fmt='none',\n"
        "               ecolor='C0', alpha=0.4)\n"
        "sc = ax[0].scatter(loc[:, 0], loc[:, 1], c=zz[:, 0], cmap='viridis', s=12, zorder=3)\n"
        "ax[0].plot(true[:, 0], true[:, 1], 'k--', lw=1, label='true curve')\n"
        "fig.colorbar(sc, ax=ax[0], label='z'); ax[0].legend(); ax[0].set_title('decoded mean')\n"
        "ax[1].plot(zz[:, 0], sd[:, 0], label='sigma_1(z)')\n"
        "ax[1].plot(zz[:, 0], sd[:, 1], label='sigma_2(z)')\n"
        "ax[1].set_xlabel('z'); ax[1].set_yscale('log'); ax[1].legend()\n"
        "ax[1].set_title('learned decoder std'); plt.show()"
    ),
]


SHOW = (
    "def show(fig):\n"
    "    \"\"\"Display a ppvae figure (a matplotlib Figure made without pyplot) as a PNG.\"\"\"\n"
    "    buf = io.BytesIO()\n"
    "    fig.savefig(buf, format='png', dpi=60, bbox_inches='tight')\n"
    "    return Image(buf.getvalue())\n"
)

SETUP = (
    "import io\n"
    "import os\n"
    "import tempfile\n"
    "from pathlib import Path\n\n"
    "import matplotlib.pyplot as plt\n"
    "import torch\n"
    "from IPython.display import Image\n\n"
    "import ppvae\n"
    "from ppvae import plots\n\n"
    + SHOW
    + "\n"
)


QUICK = "QUICK = os.environ.get('PPVAE_NB_QUICK') == '1'  # checks: 2 epochs on a subset\n"


def run_or_load(config: str, run: str, default_epochs: int, command: str,
                quick: list[str]) -> str:
    """Cell source: load the full run if it exists, else train a short one (``quick``: the
    settings of a check run)."""
    return (
        SETUP
        + f"RUN = Path('..') / 'runs' / '{run}'  # made by: {command}\n"
        + QUICK
        + "EPOCHS = os.environ.get('PPVAE_NB_EPOCHS') or (2 if QUICK else None)\n"
        "if EPOCHS is None and (RUN / 'checkpoint.pt').is_file():\n"
        "    run = ppvae.load(RUN)\n"
        "    print(f'loaded {RUN}')\n"
        "else:\n"
        f"    config = ppvae.load_config(Path('..') / 'configs' / '{config}')\n"
        f"    config = config.replace([f'train.epochs={{EPOCHS or {default_epochs}}}']\n"
        f"                            + ({quick!r} if QUICK else []))\n"
        f"    run = ppvae.fit(config, out=Path(tempfile.mkdtemp(prefix='ppvae-{run}-')))\n"
        "data = run.load_data()\n"
        "last = run.metrics[-1]\n"
        "print(f\"epoch {last['epoch']}: train ELBO {last['train_elbo']:.2f}, \"\n"
        "      f\"test ELBO {last['test_elbo']:.2f} nats per image\")"
    )


CURVE = (
    "ep = [m['epoch'] for m in run.metrics]\n"
    "plt.plot(ep, [m['train_elbo'] for m in run.metrics], label='train')\n"
    "plt.plot(ep, [m['test_elbo'] for m in run.metrics], label='test')\n"
    "plt.xlabel('epoch'); plt.ylabel('ELBO (nats per image)'); plt.legend(); plt.show()"
)

MNIST = [
    new_markdown_cell(
        "# MNIST with a 2-D latent space (Kingma & Welling 2013; the talk's manifold)\n\n"
        "A Bernoulli decoder (logits) and a diagonal-Normal encoder, 784-400-2 softplus "
        "MLPs, trained by Pyro SVI with `TraceMeanField_ELBO` (`configs/mnist_z2.toml`). "
        "The notebook loads `runs/mnist_z2` when it exists (the full run) and otherwise "
        "trains a short run; `PPVAE_NB_EPOCHS` sets its length, `PPVAE_NB_QUICK=1` makes a "
        "2-epoch run on a subset (for checks)."
    ),
    new_code_cell(run_or_load("mnist_z2.toml", "mnist_z2", 20,
                              "ppvae train --config configs/mnist_z2.toml --out runs/mnist_z2",
                              ["data.n_train=2000", "data.n_test=500"])),
    new_markdown_cell("## Training curve"),
    new_code_cell(CURVE),
    new_markdown_cell(
        "## The learned 2-D manifold\n\n"
        "A 20×20 grid of $z$ through the inverse Gaussian CDF (so each cell holds equal prior "
        "mass), decoded to the mean of $p(x|z)$: Kingma & Welling's Fig. 4."
    ),
    new_code_cell("show(plots.manifold_figure(run.pair, 20, run.spec.x_dim, run.spec.image_shape))"),
    new_markdown_cell(
        "## The test set in latent space\n\n"
        "The mean of $q(z|x)$ for 5,000 test images, coloured by digit: the classes form "
        "regions although no label was used in training."
    ),
    new_code_cell("show(plots.embedding_figure(run.pair, data.x_test[:5000], data.y_test[:5000]))"),
    new_markdown_cell("## Reconstructions and samples from the prior"),
    new_code_cell(
        "torch.manual_seed(0)\n"
        "show(plots.reconstructions_figure(run.pair, data.x_test[:20], run.spec.image_shape))"
    ),
    new_code_cell(
        "show(plots.samples_figure(run.pair, 64, run.spec.x_dim, run.spec.image_shape, None))"
    ),
]

FREY = [
    new_markdown_cell(
        "# Frey Face with a Gaussian decoder (Kingma & Welling 2013, Figs. 2 and 4)\n\n"
        "1,965 faces of 28×20 pixels in [0, 1] (1,765 train / 200 test, seeded split). "
        "The decoder is Gaussian with a learned mean (sigmoid) and a learned per-pixel "
        "standard deviation, floored at `min_scale = 0.01`: without a floor the variance can "
        "collapse on pixels that take few distinct values and the likelihood diverges "
        "(RESULTS.md §2). 200 hidden units, z = 2 (`configs/frey_z2.toml`). Loads "
        "`runs/frey_z2` when it exists; otherwise trains a short run (`PPVAE_NB_EPOCHS`; "
        "`PPVAE_NB_QUICK=1`: 2 epochs)."
    ),
    new_code_cell(run_or_load("frey_z2.toml", "frey_z2", 200,
                              "ppvae train --config configs/frey_z2.toml --out runs/frey_z2", [])),
    new_markdown_cell(
        "## Lower bound per image\n\n"
        "A Gaussian density on [0, 1] pixels is not bounded by 0: bounds are positive and "
        "larger is better. The gap between train and test grows with training (1,765 faces)."
    ),
    new_code_cell(CURVE),
    new_markdown_cell("## The 2-D face manifold (20×20 grid, as in Fig. 4 of the paper)"),
    new_code_cell("show(plots.manifold_figure(run.pair, 20, run.spec.x_dim, run.spec.image_shape))"),
    new_markdown_cell("## Test faces and their reconstructions; faces sampled from the prior"),
    new_code_cell(
        "torch.manual_seed(0)\n"
        "show(plots.reconstructions_figure(run.pair, data.x_test[:20], run.spec.image_shape))"
    ),
    new_code_cell(
        "show(plots.samples_figure(run.pair, 48, run.spec.x_dim, run.spec.image_shape, None))"
    ),
    new_markdown_cell(
        "## The decoder's learned standard deviation\n\n"
        "Per pixel, for the test faces encoded to the mean of $q(z|x)$. In the full "
        "1,000-epoch run it is largest at the left and right edges of the frame and "
        "smallest along the top; the dashed line in the histogram is the floor."
    ),
    new_code_cell(
        "from ppvae.latent import encode_mean, decode\n\n"
        "px = decode(run.pair, encode_mean(run.pair, data.x_test), run.spec.x_dim)\n"
        "sd = px.variance.sqrt().mean(0).reshape(run.spec.image_shape)\n"
        "fig, ax = plt.subplots(1, 2, figsize=(8, 3.5))\n"
        "im = ax[0].imshow(sd, cmap='magma'); fig.colorbar(im, ax=ax[0])\n"
        "ax[0].set_title('mean decoder std per pixel'); ax[0].axis('off')\n"
        "ax[1].hist(px.variance.sqrt().flatten(), bins=60, log=True)\n"
        "ax[1].axvline(run.config.model.options.min_scale, ls='--', c='k')\n"
        "ax[1].set_xlabel('decoder std'); plt.show()"
    ),
]

SEMI = [
    new_markdown_cell(
        "# Semi-supervised MNIST with 100 labels: M2 (Kingma et al. 2014)\n\n"
        "One model $p(y)p(z)p_\\theta(x|y,z)$ and one guide $q_\\phi(y|x)q_\\phi(z|x,y)$ "
        "serve labelled batches ($y$ observed) and unlabelled ones ($y$ summed out exactly "
        "by `TraceEnum_ELBO`, enumerated in parallel). The classification term "
        "$\\alpha\\,N/N_l\\,(-\\log q(y|x))$ on the labelled batch is a second objective "
        "in the same trainer; `configs/m2_weighted.toml` also weights the labelled batch's "
        "bound up (`semi.labelled_weight`). The last 10,000 training images are the "
        "validation set (model selection: `best.pt`); the test images are scored only for "
        "reporting.\n\n"
        "Loads `runs/m2w_l100_s0` when it exists; otherwise trains a short run "
        "(`PPVAE_NB_EPOCHS`; `PPVAE_NB_QUICK=1`: 2 epochs on a subset, for checks)."
    ),
    new_code_cell(
        SETUP
        + "# made by: ppvae ssl --config configs/m2_weighted.toml --labels 100 --seed 0 "
        "--out runs/m2w_l100_s0\n"
        "RUN = Path('..') / 'runs' / 'm2w_l100_s0'\n"
        + QUICK
        + "EPOCHS = os.environ.get('PPVAE_NB_EPOCHS') or (2 if QUICK else None)\n"
        "if EPOCHS is None and (RUN / 'best.pt').is_file():\n"
        "    run_dir = RUN\n"
        "else:\n"
        "    config = ppvae.load_config(Path('..') / 'configs' / 'm2_weighted.toml')\n"
        "    config = config.replace([f'train.epochs={EPOCHS or 10}', 'semi.labels=100']\n"
        "                            + (['data.n_train=3000', 'data.n_test=500', 'semi.n_valid=500']\n"
        "                               if QUICK else []))\n"
        "    run_dir = ppvae.fit(config, out=Path(tempfile.mkdtemp(prefix='ppvae-m2-'))).run_dir\n"
        "run = ppvae.load(run_dir, checkpoint='best.pt')  # the best validation error\n"
        "data = run.load_data()\n"
        "scored = [m for m in run.metrics if 'valid_error' in m]  # evaluated epochs\n"
        "best = min(scored, key=lambda m: m['valid_error'])\n"
        "print(f\"best validation error {best['valid_error']:.2%} at epoch {best['epoch']}, \"\n"
        "      f\"test error there {best['test_error']:.2%}\")"
    ),
    new_markdown_cell("## Validation and test error per epoch"),
    new_code_cell(
        "ep = [m['epoch'] for m in scored]\n"
        "fig, ax = plt.subplots(1, 2, figsize=(11, 3.8))\n"
        "ax[0].plot(ep, [100 * m['valid_error'] for m in scored], label='validation')\n"
        "ax[0].plot(ep, [100 * m['test_error'] for m in scored], label='test')\n"
        "ax[0].axvline(best['epoch'], ls=':', c='k', label='best.pt')\n"
        "ax[0].set_xlabel('epoch'); ax[0].set_ylabel('error (%)'); ax[0].legend()\n"
        "ax[1].plot([m['epoch'] for m in run.metrics], [m['train_elbo'] for m in run.metrics],\n"
        "           label='train (unlabelled)')\n"
        "ax[1].plot(ep, [m['test_elbo'] for m in scored], label='test')\n"
        "ax[1].set_xlabel('epoch'); ax[1].set_ylabel('ELBO, y summed out'); ax[1].legend()\n"
        "plt.show()"
    ),
    new_markdown_cell(
        "## Confusion matrix on the 10,000 test images\n\n"
        "`run.predict(x)` is the argmax of $q(y|x)$; the error is wrong predictions divided "
        "by the number of images."
    ),
    new_code_cell(
        "pred = run.predict(data.x_test)\n"
        "print(f'test error {(pred != data.y_test).float().mean():.2%}')\n"
        "show(plots.confusion_figure(pred, data.y_test, 10))"
    ),
    new_markdown_cell(
        "## Class-conditional samples\n\n"
        "Each row fixes the digit $y$; each column fixes one draw $z\\sim p(z)$. If the "
        "model separates content ($y$) from style ($z$), a column keeps its style across "
        "digits."
    ),
    new_code_cell(
        "torch.manual_seed(0)\n"
        "show(plots.class_samples_figure(run.pair, 10, 10, run.spec.x_dim, run.spec.image_shape))"
    ),
    new_markdown_cell("## Class probabilities for a few test images"),
    new_code_cell(
        "proba = run.predict_proba(data.x_test[:5])\n"
        "for p, y in zip(proba, data.y_test[:5]):\n"
        "    print(f'label {int(y)}: predicted {int(p.argmax())} with q(y|x) = {float(p.max()):.3f}')"
    ),
]


def write(name: str, cells: list) -> Path:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = HERE / name
    nbformat.write(nb, path)
    return path


if __name__ == "__main__":
    print(write("01_toy2d.ipynb", TOY2D))
    print(write("02_mnist.ipynb", MNIST))
    print(write("03_frey_face.ipynb", FREY))
    print(write("04_semi_supervised.ipynb", SEMI))
