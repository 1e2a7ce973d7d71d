"""The choice of ATen's CPU kernels made by the ppvae command before torch loads."""

from __future__ import annotations

import json
import sys

import pytest

from ppvae import cpukernels


@pytest.fixture()
def fresh(monkeypatch, tmp_path):
    monkeypatch.delenv(cpukernels.ENV, raising=False)
    monkeypatch.setattr(cpukernels, "cache_file", lambda: tmp_path / "cpu_kernels.json")
    monkeypatch.delitem(sys.modules, "torch")  # as in a command that has not loaded it yet
    return monkeypatch


@pytest.mark.parametrize(("avx512", "gain", "chosen"), [
    (True, 4.6, True), (True, 1.2, False), (False, 4.6, False)])
def test_avx2_only_where_the_probe_measured_a_gain(fresh, avx512, gain, chosen):
    fresh.setattr(cpukernels, "cpu_model", lambda: ("some cpu", avx512))
    fresh.setattr(cpukernels, "probe", lambda cache: {"gain": gain})
    note = cpukernels.choose_kernels()
    assert (note is not None) == chosen
    assert (cpukernels.os.environ.get(cpukernels.ENV) == "avx2") == chosen
    if chosen:
        assert "4.6x slower" in note and "--native-kernels" in note


def test_a_choice_the_user_made_is_kept(fresh):
    fresh.setenv(cpukernels.ENV, "default")
    fresh.setattr(cpukernels, "probe", lambda cache: pytest.fail("probed"))
    assert cpukernels.choose_kernels() is None
    assert cpukernels.os.environ[cpukernels.ENV] == "default"


def test_the_probe_measures_once_and_remembers(tmp_path):
    cache = tmp_path / "cpu_kernels.json"
    first = cpukernels.probe(cache)
    assert first["default_s"] > 0 and first["avx2_s"] > 0
    assert first["gain"] == pytest.approx(first["default_s"] / first["avx2_s"])
    stored = json.loads(cache.read_text())
    stored["gain"] = 123.0  # a remembered result is not measured again
    cache.write_text(json.dumps(stored))
    assert cpukernels.probe(cache)["gain"] == 123.0
