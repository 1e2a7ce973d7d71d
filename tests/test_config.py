"""Typed configs: unknown keys and bad values are refused with useful messages."""

from __future__ import annotations

import pytest

from ppvae.config import from_dict, load_config
from ppvae.errors import ConfigError, UnknownNameError
from tests.conftest import REPO

BASE = {
    "name": "t",
    "data": {"name": "toy2d", "n_train": 100, "n_test": 50},
    "model": {"name": "vae", "z_dim": 1, "hidden": [8], "likelihood": "gaussian",
              "mean": "identity"},
    "guide": {"name": "normal", "z_dim": 1, "hidden": [8]},
    "train": {"epochs": 1, "batch_size": 32},
}


def with_(section: str, **kw) -> dict:
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    raw[section].update(kw)
    return raw


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_configs_load_and_round_trip(path):
    cfg = load_config(path)
    assert cfg.name == path.stem
    assert from_dict(cfg.to_dict()) == cfg


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown key 'lrr' in \[train\]; valid keys: .*lr"):
        from_dict(with_("train", lrr=0.1))


def test_unknown_top_level_key():
    raw = dict(BASE, extra=1)
    with pytest.raises(ConfigError, match="unknown key 'extra' in \\[top level\\]"):
        from_dict(raw)


def test_unknown_model_name_lists_registered():
    with pytest.raises(UnknownNameError, match="unknown model 'vea'; valid model names: .*vae"):
        from_dict(with_("model", name="vea"))


def test_unknown_elbo_name():
    with pytest.raises(UnknownNameError, match="valid elbo names: enum, enum_meanfield, iwae, "
                                               "iwae_dreg, meanfield, trace"):
        from_dict(with_("train", elbo="tracee"))


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("train", "lr", "fast", "train.lr must be a number"),
        ("train", "epochs", 1.5, "train.epochs must be an integer"),
        ("train", "epochs", 0, "train.epochs must be >= 1"),
        ("model", "likelihood", "poisson", "model.likelihood must be one of"),
        ("model", "hidden", 8, "model.hidden must be a list"),
        ("model", "z_dim", True, "model.z_dim must be an integer"),
        ("data", "noise", -1.0, "data.noise must be > 0"),
    ],
)
def test_bad_values(section, key, value, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(with_(section, **{key: value}))


def test_overrides_are_typed():
    cfg = from_dict(BASE).replace(["train.lr=0.01", "model.hidden=[4, 4]", "train.elbo=meanfield"])
    assert cfg.train.lr == 0.01
    assert cfg.model.options.hidden == (4, 4)
    assert cfg.train.elbo == "meanfield"
    with pytest.raises(ConfigError, match="not of the form"):
        from_dict(BASE).replace(["train.lr"])
