"""benchmarks.m2_external_m1: M2 on the features of an encoder stored as an ndict archive."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import torch
from torch.nn import functional as F

from benchmarks.m2_external_m1 import encode, main, read_encoder
from tests.conftest import REPO


def archive(path, arrays: dict[str, np.ndarray]) -> None:
    """An ndict archive as nips14-ssl writes it: sorted names, arrays arr_0, arr_1, ..."""
    names = sorted(arrays)
    buf = io.BytesIO()
    np.savez(buf, *[arrays[n] for n in names])
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in (("names.txt", "\n".join(names).encode()),
                           ("arrays.npz", buf.getvalue())):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


def encoder(z: int = 3, h: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = {"w0": (h, 784), "b0": (h, 1), "w1": (h, h), "b1": (h, 1), "mean_w": (z, h),
              "mean_b": (z, 1), "logvar_w": (z, h), "logvar_b": (z, 1)}
    return {k: (rng.standard_normal(s) * 0.3).astype(np.float32) for k, s in shapes.items()}


def test_the_archive_is_read_and_encodes_as_its_layers_say(tmp_path):
    arrays = encoder()
    archive(tmp_path / "v.tgz", arrays)
    v = read_encoder(tmp_path / "v.tgz")
    x = torch.rand(5, 784)
    t = {k: torch.from_numpy(a) for k, a in arrays.items()}
    h = F.softplus(F.softplus(x @ t["w0"].T + t["b0"][:, 0]) @ t["w1"].T + t["b1"][:, 0])
    mean, sd = encode(v, x)
    torch.testing.assert_close(mean, h @ t["mean_w"].T + t["mean_b"][:, 0])
    torch.testing.assert_close(sd, (0.5 * (h @ t["logvar_w"].T + t["logvar_b"][:, 0])).exp())


def test_m2_trains_on_the_features(tmp_path, data_dir, capsys):
    archive(tmp_path / "v.tgz", encoder())
    small = ["data.min_std=0", "model.z_dim=2", "guide.z_dim=2", "model.hidden=[8]",
             "guide.hidden=[8]", "guide.classifier_hidden=[8]", "train.epochs=1",
             "train.eval_every=1", "semi.n_valid=500", "semi.labels=20"]
    args = ["--weights", str(tmp_path / "v.tgz"), "--config",
            str(REPO / "configs" / "m1m2_grey.toml"), "--data-dir", str(data_dir),
            "--subset", "2000", *[a for s in small for a in ("--set", s)]]
    assert main([*args, "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "3 of 3 units kept" in out and "best validation error" in out
    # the run records which archive made its features: another one cannot resume it
    archive(tmp_path / "v.tgz", encoder(h=9))
    assert main([*args, "--out", str(tmp_path / "r"), "--resume",
                 "--set", "train.epochs=2"]) == 2
    assert "changed since it was trained" in capsys.readouterr().err


def test_bad_archives_are_refused(tmp_path, capsys):
    (tmp_path / "junk.tgz").write_bytes(b"not a tar")
    arrays = encoder()
    del arrays["logvar_w"]
    archive(tmp_path / "short.tgz", arrays)
    arrays = encoder()
    del arrays["b1"]
    archive(tmp_path / "nobias.tgz", arrays)
    arrays = encoder()
    arrays["w1"] = arrays["w1"][:, :5]
    archive(tmp_path / "chain.tgz", arrays)
    for name, message in (("junk.tgz", "not an encoder archive"), ("short.tgz", "lacks"),
                          ("nobias.tgz", "lacks ['b1']"), ("chain.tgz", "w1 has shape (8, 5)"),
                          ("none.tgz", "no such file")):
        rc = main(["--weights", str(tmp_path / name), "--config",
                   str(REPO / "configs" / "m1m2_grey.toml"), "--out", str(tmp_path / "r")])
        assert rc == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
