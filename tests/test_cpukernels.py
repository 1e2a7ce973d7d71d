"""The choice of ATen's CPU kernels made by the ppvae command before torch loads."""

from __future__ import annotations

import json
import sys

import pytest

from ppvae import cpukernels


@pytest.fixture()
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv(cpukernels.ENV, "unset")  # recorded, so restored after the test
    monkeypatch.delenv(cpukernels.ENV)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(cpukernels, "cache_file", lambda: tmp_path / "cpu_kernels.json")
    return monkeypatch


@pytest.mark.parametrize(("avx512", "gain", "chosen"), [
    (True, 4.6, True), (True, 1.2, False), (False, 4.6, False)])
def test_avx2_only_where_the_probe_measured_a_gain(fresh, avx512, gain, chosen):
    fresh.setattr(cpukernels, "cpu_model", lambda: ("some cpu", avx512))
    fresh.setattr(cpukernels, "probe", lambda _cache: {"gain": gain})
    note = cpukernels.choose_kernels()
    assert (note is not None) == chosen
    assert (cpukernels.os.environ.get(cpukernels.ENV) == "avx2") == chosen
    if chosen:
        assert "4.6x slower" in note and "--native-kernels" in note


def test_a_choice_the_user_made_is_kept_and_torchrun_is_left_alone(fresh):
    fresh.setattr(cpukernels, "cpu_model", lambda: ("some cpu", True))
    fresh.setattr(cpukernels, "probe", lambda _cache: pytest.fail("probed"))
    fresh.setenv("WORLD_SIZE", "2")
    assert cpukernels.choose_kernels() is None
    fresh.delenv("WORLD_SIZE")
    fresh.setenv(cpukernels.ENV, "default")
    assert cpukernels.choose_kernels() is None
    assert cpukernels.os.environ[cpukernels.ENV] == "default"


def test_a_damaged_cache_is_measured_again(tmp_path, monkeypatch):
    cache = tmp_path / "cpu_kernels.json"
    calls = []
    monkeypatch.setattr(cpukernels, "_time", lambda cap: calls.append(cap) or (2.0, "x"))
    for text in ("[1, 2]", '{"cpu": "no gain"}', "not json"):
        cache.write_text(text)
        assert cpukernels.probe(cache)["gain"] == 1.0
    assert len(calls) == 6


@pytest.mark.slow  # two probe processes
def test_the_probe_measures_once_and_remembers(tmp_path):
    cache = tmp_path / "cpu_kernels.json"
    first = cpukernels.probe(cache)
    assert first["default_s"] > 0 and first["avx2_s"] > 0
    assert first["gain"] == pytest.approx(first["default_s"] / first["avx2_s"])
    stored = json.loads(cache.read_text())
    stored["gain"] = 123.0  # a remembered result is not measured again
    cache.write_text(json.dumps(stored))
    assert cpukernels.probe(cache)["gain"] == 123.0


@pytest.mark.slow  # a ppvae process
@pytest.mark.usefixtures("data_dir")
def test_the_command_restarts_with_the_chosen_kernels(tmp_path):
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
        if chosen:  # the restarted command loaded torch with the AVX2 kernels
            assert result["cpu_capability"] == "AVX2"
        elif avx512:  # left alone: ATen's own choice on this CPU
            assert result["cpu_capability"] != "AVX2"
