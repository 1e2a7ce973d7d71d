"""VAE features (M1) as a dataset, and M1+M2 as one command."""

from __future__ import annotations

import pytest
import torch

from ppvae.api import prepare
from ppvae.config import Component
from ppvae.data import load_data
from ppvae.data.features import BINARIZE_SEED, VAEFeaturesOptions
from ppvae.data.mnist import MNISTOptions, binarize_fixed
from ppvae.errors import ConfigError, RunError

STAGE1 = """
name = "m1_tiny"
[data]
name = "mnist"
pixels = "binarized"
n_train = 400
n_test = 100
[model]
name = "vae"
z_dim = 3
hidden = [16]
[guide]
name = "normal"
z_dim = 3
hidden = [16]
[train]
elbo = "meanfield"
epochs = 2
batch_size = 100
"""


@pytest.fixture()
def stage1(tmp_path):
    path = tmp_path / "m1.toml"
    path.write_text(STAGE1)
    return path


def test_features_are_the_encoder_moments_and_sampled_per_epoch(tmp_path, stage1, data_dir):
    from ppvae import load
    from ppvae.latent import encode_moments

    run = tmp_path / "m1"
    comp = Component("vae_features", VAEFeaturesOptions(run=str(run), stage1=str(stage1)))
    prepare(comp, data_dir)
    assert load(run).metrics[-1]["epoch"] == 2
    stamp = (run / "checkpoint.pt").stat().st_mtime_ns
    prepare(comp, data_dir)  # finished: not trained again
    assert (run / "checkpoint.pt").stat().st_mtime_ns == stamp

    data = load_data(comp, data_dir)
    assert data.spec.x_dim == 3 and data.spec.num_classes == 10
    assert data.x_train.shape == (400, 3) and data.x_test.shape == (100, 3)
    m1 = load(run)
    base = m1.load_data(data_dir)
    torch.testing.assert_close(data.x_test, encode_moments(m1.pair, base.x_test)[0])
    loc, sd = encode_moments(m1.pair, binarize_fixed(base.x_train, BINARIZE_SEED))
    torch.testing.assert_close(data.x_train, loc)
    torch.testing.assert_close(data.train_noise, sd)
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([data.train_epoch(g) for _ in range(200)])
    assert not torch.equal(draws[0], draws[1])
    torch.testing.assert_close(draws.mean(0), data.x_train, atol=0.35, rtol=0)
    ratio = draws.std(0) / data.train_noise
    assert 0.75 < ratio.mean() < 1.25

    means = load_data(Component("vae_features", VAEFeaturesOptions(run=str(run), sample=False)),
                      data_dir)
    assert torch.equal(means.train_epoch(g), means.x_train)


def test_features_cover_the_images_the_vae_held_out(tmp_path, data_dir):
    from ppvae import load
    from ppvae.latent import encode_moments

    config = tmp_path / "m1_held.toml"
    config.write_text(STAGE1.replace('pixels = "binarized"', 'pixels = "grey"\nhold_out = 150'))
    run = tmp_path / "m1"
    comp = Component("vae_features", VAEFeaturesOptions(run=str(run), stage1=str(config)))
    prepare(comp, data_dir)
    m1 = load(run)
    assert m1.load_data(data_dir).x_train.shape[0] == 250  # what M1 trained on
    data = load_data(comp, data_dir)
    assert data.x_train.shape == (400, 3)  # features for all 400, the held-out 150 too
    assert data.held_out == 150
    grey = load_data(Component("mnist", MNISTOptions(n_train=400, n_test=100)), data_dir)
    loc, sd = encode_moments(m1.pair, grey.x_train)
    torch.testing.assert_close(data.x_train, loc)
    torch.testing.assert_close(data.train_noise, sd)


@pytest.mark.parametrize(("held_out", "ok"), [(0, True), (99, False), (100, True), (150, True)])
def test_validation_images_must_be_held_out_from_the_features_vae(held_out, ok):
    from ppvae.config import SemiConfig
    from ppvae.semi import split_for

    y = torch.arange(400) % 10
    cfg = SemiConfig(labels=20, n_valid=100)
    if ok:
        assert split_for(cfg, y, 10, held_out).valid.tolist() == list(range(300, 400))
    else:
        with pytest.raises(ConfigError, match="held out only its last 99 training images"):
            split_for(cfg, y, 10, held_out)


def test_unfinished_feature_run_is_resumed(tmp_path, stage1, data_dir):
    from ppvae import load

    run = tmp_path / "m1"
    short = tmp_path / "short.toml"
    short.write_text(STAGE1.replace("epochs = 2", "epochs = 1"))
    prepare(Component("vae_features", VAEFeaturesOptions(run=str(run), stage1=str(short))),
                 data_dir)
    assert load(run).metrics[-1]["epoch"] == 1
    prepare(Component("vae_features", VAEFeaturesOptions(run=str(run), stage1=str(stage1))),
                 data_dir)
    assert [m["epoch"] for m in load(run).metrics] == [1, 2]


def test_missing_feature_run_is_a_clear_error(tmp_path, data_dir):
    comp = Component("vae_features", VAEFeaturesOptions(run=str(tmp_path / "nope")))
    with pytest.raises(RunError, match="feature VAE not available.*data.stage1"):
        load_data(comp, data_dir)
    with pytest.raises(ConfigError, match="data.run"):
        VAEFeaturesOptions().validate()


def test_m1m2_is_one_command(tmp_path, stage1, data_dir, capsys):
    from ppvae import load
    from ppvae.cli import main
    from tests.conftest import REPO

    out, m1 = tmp_path / "m1m2", tmp_path / "m1"
    rc = main(["ssl", "--config", str(REPO / "configs" / "m1m2_mnist.toml"), "--labels", "20",
               "--set", f"data.run={m1}", "--set", f"data.stage1={stage1}",
               "--set", "semi.n_valid=100", "--set", "model.hidden=[16]",
               "--set", "guide.hidden=[16]", "--set", "guide.classifier_hidden=[16]",
               "--set", "model.z_dim=2", "--set", "guide.z_dim=2", "--epochs", "2",
               "--data-dir", str(data_dir), "--out", str(out), "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "preparing vae_features" in text and "best validation error" in text
    assert (m1 / "checkpoint.pt").is_file()
    run = load(out)
    assert run.spec.x_dim == 3 and 0 <= run.metrics[-1]["test_error"] <= 1
    # class-conditional samples decode the features through M1; the confusion matrix
    for cmd in ("sample", "confusion"):
        png = tmp_path / f"{cmd}.png"
        assert main([cmd, str(out), "--n", "3", "--data-dir", str(data_dir),
                     "--out", str(png)]) == 0
        assert png.stat().st_size > 1000


def test_decoded_features_are_m1_decoder_means(tmp_path, stage1, data_dir):
    from ppvae import load
    from ppvae.data import decode_features
    from ppvae.latent import decode

    run = tmp_path / "m1"
    comp = Component("vae_features", VAEFeaturesOptions(run=str(run), stage1=str(stage1)))
    prepare(comp, data_dir)
    z = torch.randn(4, 3)
    images, shape = decode_features(comp, z)
    assert shape == (28, 28)
    torch.testing.assert_close(images, decode(load(run).pair, z, 784).mean)
    assert decode_features(Component("toy2d", None), z) is None


def test_min_std_keeps_only_the_active_units(tmp_path, stage1, data_dir):
    from ppvae import load
    from ppvae.data import decode_features
    from ppvae.latent import decode

    run = tmp_path / "m1"
    full = Component("vae_features", VAEFeaturesOptions(run=str(run), stage1=str(stage1)))
    prepare(full, data_dir)
    every = load_data(full, data_dir)
    std = every.x_train.std(0)
    lo, hi = std.sort().values[:2]
    cut = float((lo + hi) / 2)  # drops exactly the least active unit
    opts = VAEFeaturesOptions(run=str(run), min_std=cut)
    some = load_data(Component("vae_features", opts), data_dir)
    keep = std >= cut
    assert int(keep.sum()) == 2 and some.spec.x_dim == 2
    assert "2 of 3 units" in some.name
    assert torch.equal(some.x_train, every.x_train[:, keep])
    assert torch.equal(some.x_test, every.x_test[:, keep])
    assert torch.equal(some.train_noise, every.train_noise[:, keep])

    z = torch.randn(4, 2)
    images, _ = decode_features(Component("vae_features", opts), z, data_dir)
    z_full = torch.zeros(4, 3)
    z_full[:, keep] = z
    torch.testing.assert_close(images, decode(load(run).pair, z_full, 784).mean)

    too_high = VAEFeaturesOptions(run=str(run), min_std=float(std.max()) + 1)
    with pytest.raises(ConfigError, match="data.min_std.*lower it"):
        load_data(Component("vae_features", too_high), data_dir)
    for bad in (-0.1, float("nan")):
        with pytest.raises(ConfigError, match="min_std must be a finite number >= 0"):
            VAEFeaturesOptions(run="r", min_std=bad).validate()


def test_feature_run_from_another_config_or_without_checkpoint(tmp_path, stage1,
                                                                          data_dir):
    run = tmp_path / "m1"
    other = tmp_path / "other.toml"
    other.write_text(STAGE1.replace("hidden = [16]", "hidden = [8]"))
    prepare(Component("vae_features", VAEFeaturesOptions(run=str(run), stage1=str(other))),
                 data_dir)
    comp = Component("vae_features", VAEFeaturesOptions(run=str(run), stage1=str(stage1)))
    with pytest.raises(RunError, match="another data/model/guide config than data.stage1"):
        prepare(comp, data_dir)
    (run / "checkpoint.pt").unlink()  # lost: the previous one is offered
    with pytest.raises(RunError, match="keeps the previous one: finish it with ppvae train "
                                       "--resume --previous"):
        prepare(comp, data_dir)
    (run / "checkpoint.prev.pt").unlink()  # no checkpoint at all: not a run, trained afresh
    prepare(comp, data_dir)
    assert (run / "checkpoint.pt").is_file()


def test_m2_run_refuses_features_that_changed_since(tmp_path, stage1, data_dir, capsys):
    from ppvae import load
    from ppvae.cli import main
    from tests.conftest import REPO

    out, m1 = tmp_path / "m1m2", tmp_path / "m1"
    args = ["--set", f"data.run={m1}", "--set", "semi.n_valid=100", "--set", "model.hidden=[8]",
            "--set", "guide.hidden=[8]", "--set", "guide.classifier_hidden=[8]",
            "--data-dir", str(data_dir), "--no-progress"]
    short = tmp_path / "short.toml"
    short.write_text(STAGE1.replace("epochs = 2", "epochs = 1"))
    assert main(["ssl", "--config", str(REPO / "configs" / "m1m2_mnist.toml"), "--labels", "20",
                 "--epochs", "1", "--set", f"data.stage1={short}", "--out", str(out),
                 *args]) == 0
    # M1 trained on (stage1 asks for 2 epochs): the M2 run's features are not the same
    prepare(Component("vae_features", VAEFeaturesOptions(run=str(m1), stage1=str(stage1))),
                 data_dir)
    capsys.readouterr()
    with pytest.raises(RunError, match="changed since it was trained"):
        load(out).load_data(data_dir)
    rc = main(["ssl", "--resume", "--out", str(out), "--epochs", "2", *args])
    assert rc == 2 and "changed since it was trained" in capsys.readouterr().err


def test_ssl_checks_its_output_folder_before_training_the_feature_vae(tmp_path, stage1,
                                                                      data_dir, capsys):
    from ppvae.cli import main
    from tests.conftest import REPO

    out, m1 = tmp_path / "m1m2", tmp_path / "m1"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"a run's checkpoint")
    rc = main(["ssl", "--config", str(REPO / "configs" / "m1m2_mnist.toml"),
               "--set", f"data.run={m1}", "--set", f"data.stage1={stage1}",
               "--data-dir", str(data_dir), "--out", str(out), "--no-progress"])
    assert rc == 2 and "already holds a run" in capsys.readouterr().err
    assert not m1.exists()


def test_grey_inputs_encode_the_grey_levels(tmp_path, stage1, data_dir):
    from ppvae import load
    from ppvae.latent import encode_moments

    run = tmp_path / "m1"
    prepare(Component("vae_features", VAEFeaturesOptions(run=str(run), stage1=str(stage1))),
            data_dir)
    grey = load_data(Component("vae_features", VAEFeaturesOptions(run=str(run), inputs="grey")),
                     data_dir)
    binary = load_data(Component("vae_features", VAEFeaturesOptions(run=str(run))), data_dir)
    m1 = load(run)
    cfg = m1.config.data
    images = load_data(Component("mnist", type(cfg.options)(n_train=400, n_test=100)), data_dir)
    assert not images.dynamic_binarize  # grey levels
    torch.testing.assert_close(grey.x_train, encode_moments(m1.pair, images.x_train)[0])
    torch.testing.assert_close(grey.x_test, encode_moments(m1.pair, images.x_test)[0])
    assert not torch.allclose(grey.x_test, binary.x_test)
    assert "grey inputs" in grey.name and "grey inputs" not in binary.name
