"""Registries: names, snapshots, and the test fixture that restores them."""

from __future__ import annotations

import sys
import textwrap

import pytest

from ppvae.errors import ConfigError, UnknownNameError
from ppvae.plugins import load_plugin
from ppvae.registry import MODELS, Registry


def test_register_get_and_unknown_names_listed():
    reg: Registry[object] = Registry("thing")
    reg.register("b")(int)
    reg.register("a", config=None)(str)
    assert reg.names() == ["a", "b"] and reg.get("b") is int and "a" in reg
    with pytest.raises(UnknownNameError, match="a, b"):
        reg.get("c")
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("a")(float)


def test_restore_returns_to_the_snapshot_and_names_what_was_added():
    reg: Registry[object] = Registry("thing")
    reg.register("kept")(int)
    snap = reg.snapshot()
    reg.register("added")(str)
    added = reg.restore(snap)
    assert [e.name for e in added] == ["added"] and reg.names() == ["kept"]


def write_plugin(tmp_path_factory):
    """The same file for every test: the same plugin module name each time."""
    path = tmp_path_factory.getbasetemp() / "reg_plugin.py"
    path.write_text(textwrap.dedent('''
        from ppvae.models import VAE, VAEOptions
        from ppvae.registry import MODELS

        class RegVAE(VAE):
            """A VAE under another name."""

        MODELS.register("reg_plugin_vae", config=VAEOptions)(RegVAE)
    '''))
    return path


def test_a_plugin_registers_for_one_test(tmp_path_factory):
    load_plugin(str(write_plugin(tmp_path_factory)))
    assert "reg_plugin_vae" in MODELS


def test_the_next_test_starts_without_it_and_can_load_it_again(tmp_path_factory):
    assert "reg_plugin_vae" not in MODELS  # the fixture in conftest removed it
    assert not any(name.startswith("ppvae_plugin_reg_plugin") for name in sys.modules)
    load_plugin(str(write_plugin(tmp_path_factory)))  # imported anew, so registered again
    assert "reg_plugin_vae" in MODELS
