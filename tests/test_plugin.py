"""A user's own model and guide, one file each outside the package, train through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

USER_MODEL = '''
"""A user's VAE with a Laplace prior (registered by decorator)."""
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule
from torch import nn

from ppvae.registry import MODELS


@dataclass(frozen=True)
class LaplaceOptions:
    z_dim: int = 1
    hidden: int = 16


@MODELS.register("laplace_vae", config=LaplaceOptions)
class LaplaceVAE(PyroModule):
    """z ~ Laplace(0, 1); x ~ N(f(z), softplus(g(z))^2)."""

    def __init__(self, opts, spec):
        super().__init__()
        self.z_dim = opts.z_dim
        self.net = nn.Sequential(nn.Linear(opts.z_dim, opts.hidden), nn.Tanh(),
                                 nn.Linear(opts.hidden, 2 * spec.x_dim))

    def forward(self, x, y=None):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Laplace(x.new_zeros(self.z_dim), 1.0).to_event(1))
            loc, raw = self.net(z).chunk(2, dim=-1)
            scale = torch.nn.functional.softplus(raw) + 1e-3
            pyro.sample("x", dist.Normal(loc, scale).to_event(1), obs=x)
'''

USER_GUIDE = '''
"""A user's guide: q(z|x) Normal from a small tanh MLP."""
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
from pyro.nn import PyroModule
from torch import nn

from ppvae.registry import GUIDES


@dataclass(frozen=True)
class SmallOptions:
    z_dim: int = 1


@GUIDES.register("small_normal", config=SmallOptions)
class SmallNormal(PyroModule):
    """q(z|x) = N(mu(x), sigma(x)^2)."""

    def __init__(self, opts, spec):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(spec.x_dim, 16), nn.Tanh(),
                                 nn.Linear(16, 2 * opts.z_dim))

    def forward(self, x, y=None):
        with pyro.plate("data", x.shape[0]):
            loc, log_scale = self.net(x).chunk(2, dim=-1)
            pyro.sample("z", dist.Normal(loc, log_scale.exp()).to_event(1))
'''

USER_CONFIG = '''
name = "laplace_toy"

[data]
name = "toy2d"
n_train = 400
n_test = 100

[model]
name = "laplace_vae"

[guide]
name = "small_normal"

[train]
elbo = "meanfield"
epochs = 2
batch_size = 50
'''


def ppvae(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([sys.executable, "-m", "ppvae", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow  # three ppvae processes
def test_user_pair_trains_through_the_cli(tmp_path):
    (tmp_path / "my_model.py").write_text(textwrap.dedent(USER_MODEL))
    (tmp_path / "my_guide.py").write_text(textwrap.dedent(USER_GUIDE))
    (tmp_path / "laplace.toml").write_text(USER_CONFIG)
    listed = ppvae(["list", "--plugin", "my_model", "--plugin", "my_guide"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "laplace_vae" in listed.stdout and "small_normal" in listed.stdout

    missing = ppvae(["train", "--config", "laplace.toml", "--out", "r0"], tmp_path)
    assert missing.returncode == 2 and "unknown model 'laplace_vae'" in missing.stderr

    trained = ppvae(["train", "--config", "laplace.toml", "--plugin", "my_model",
                     "--plugin", "my_guide", "--out", "run", "--no-progress"], tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "epoch 2/2" in trained.stdout
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["config"]["plugins"] == ["my_model", "my_guide"]

    # opening the run imports nothing named in it: the message names the plugins to load
    (tmp_path / "my_model.py").write_text(
        textwrap.dedent(USER_MODEL) + "\nopen('imported.txt', 'w').write('yes')\n")
    refused = ppvae(["evaluate", "run", "--k", "10", "--no-progress"], tmp_path)
    assert refused.returncode == 2
    assert "trained with plugin(s) my_model, my_guide" in refused.stderr
    assert "--plugin" in refused.stderr and not (tmp_path / "imported.txt").exists()
    evaluated = ppvae(["evaluate", "run", "--k", "10", "--no-progress", "--plugin", "my_model",
                       "--plugin", "my_guide"], tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "test log p(x)" in evaluated.stdout and (tmp_path / "imported.txt").exists()


@pytest.mark.slow  # two ppvae processes
def test_plugin_given_as_a_file_path(tmp_path):
    (tmp_path / "pair_in_one.py").write_text(
        textwrap.dedent(USER_MODEL).replace('"laplace_vae"', '"laplace_vae_file"')
    )
    proc = ppvae(["list", "--plugin", str(tmp_path / "pair_in_one.py")], REPO)
    assert proc.returncode == 0, proc.stderr
    assert "laplace_vae_file" in proc.stdout
    bad = ppvae(["list", "--plugin", "no_such_module_xyz"], REPO)
    assert bad.returncode == 2 and "cannot import plugin module 'no_such_module_xyz'" in bad.stderr


def test_console_script_finds_plugins_in_the_current_folder(tmp_path, monkeypatch, capsys):
    from ppvae.cli import main

    (tmp_path / "cwd_user_model.py").write_text(
        textwrap.dedent(USER_MODEL).replace('"laplace_vae"', '"laplace_vae_cwd"'))
    monkeypatch.chdir(tmp_path)
    assert main(["list", "--plugin", "cwd_user_model"]) == 0
    assert "laplace_vae_cwd" in capsys.readouterr().out
