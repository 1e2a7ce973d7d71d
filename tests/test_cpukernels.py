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


def test_the_command_restarts_with_the_chosen_kernels(tmp_path, data_dir):
    import os
    import subprocess

    from ppvae import fit
    from tests.test_devices import CFG

    fit(CFG, out=tmp_path / "run")
    model, avx512 = cpukernels.cpu_model()
    key = {"cpu": model, "python": os.path.realpath(sys.executable),
           "torch": cpukernels.version("torch")}
    cache = tmp_path / "cache" / "ppvae" / "cpu_kernels.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({**key, "default_s": 9.0, "avx2_s": 1.0, "gain": 9.0}))
    env = {k: v for k, v in os.environ.items() if k != cpukernels.ENV}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    for extra, chosen in (([], avx512), (["--native-kernels"], False)):
        proc = subprocess.run([sys.executable, "-m", "ppvae", "evaluate", str(tmp_path / "run"),
                               "--k", "2", "--n", "10", "--no-progress", *extra], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        assert ("9.0x slower" in proc.stderr) == chosen
        result = json.loads((tmp_path / "run" / "evaluate-k2-n10.json").read_text())
        assert (result["cpu_capability"] == "AVX2") == chosen or not avx512
