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
        "(`TraceMeanField_ELBO`) through `ppvae.fit`. Set `PPVAE_NB_EPOCHS` for a "
        "short run (the test suite uses 2)."
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
        "EPOCHS = int(os.environ.get('PPVAE_NB_EPOCHS', '60'))\n"
        "config = ppvae.load_config(Path('..') / 'configs' / 'toy2d.toml')\n"
        "config = config.replace([f'train.epochs={EPOCHS}'])\n"
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


def write(name: str, cells: list) -> Path:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = HERE / name
    nbformat.write(nb, path)
    return path


if __name__ == "__main__":
    print(write("01_toy2d.ipynb", TOY2D))
