"""The numpy label draw reproduces the labelled sets of public PyTorch M1+M2 code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ppvae.data.labels import label_split
from ppvae.errors import ConfigError


def reference_split(labels: np.ndarray, num_supervised: int, seed: int) -> np.ndarray:
    """create_ssl_index_splits of jonemeth/generative-models (ssl-vae/data/common.py),
    after the np.random.seed that its pl.seed_everything(seed) makes."""
    np.random.seed(seed)
    per_class = num_supervised // (1 + np.max(labels))
    sup = []
    for i in range(1 + np.max(labels)):
        indices = (labels == i).nonzero()[0]
        np.random.shuffle(indices)
        sup.append(indices[:per_class])
    return np.sort(np.concatenate(sup))


def mnist_train_labels(data_dir: Path) -> np.ndarray:
    raw = (data_dir / "MNIST" / "raw" / "train-labels-idx1-ubyte").read_bytes()
    return np.frombuffer(raw[8:], dtype=np.uint8).astype(np.int64)


@pytest.mark.parametrize(("n_labels", "seed"), [(100, 0), (600, 1), (1000, 2)])
def test_numpy_draw_is_the_reference_draw_on_mnist(data_dir, n_labels, seed):
    y = mnist_train_labels(data_dir)
    split = label_split(torch.from_numpy(y), n_labels, seed, 10000, 10, rng="numpy")
    # the reference's training set is MNIST's first 50,000 images (mnist.pkl.gz)
    assert split.labelled.tolist() == reference_split(y[:50000], n_labels, seed).tolist()


def test_numpy_draw_known_answer_mnist_100_labels_seed_0(data_dir):
    y = torch.from_numpy(mnist_train_labels(data_dir))
    got = label_split(y, 100, 0, 10000, 10, rng="numpy").labelled.tolist()
    assert got[:6] == [60, 71, 179, 1314, 1960, 2117] and got[-3:] == [48718, 49262, 49403]
    assert got != label_split(y, 100, 0, 10000, 10).labelled.tolist()


def test_numpy_draw_is_balanced_disjoint_and_leaves_the_caller_rng_alone():
    y = torch.arange(1000) % 10
    np.random.seed(7)
    np.random.random(5)  # a state part-way through its key
    before = np.random.get_state()
    a = label_split(y, 100, 3, 200, 10, rng="numpy")
    after = np.random.get_state()
    assert after[0] == before[0] and (after[1] == before[1]).all() and after[2:] == before[2:]
    assert torch.bincount(y[a.labelled], minlength=10).tolist() == [10] * 10
    assert a.labelled.max() < 800 and not set(a.labelled.tolist()) & set(a.unlabelled.tolist())
    assert len(a.labelled) + len(a.unlabelled) == 800
    assert torch.equal(a.labelled, label_split(y, 100, 3, 200, 10, rng="numpy").labelled)
    assert not torch.equal(a.labelled, label_split(y, 100, 4, 200, 10, rng="numpy").labelled)


def test_torch_draw_known_answer_mnist_100_labels_seed_0(data_dir):
    """The default draw, pinned: runs made before the numpy draw existed keep their labels."""
    y = torch.from_numpy(mnist_train_labels(data_dir))
    got = label_split(y, 100, 0, 10000, 10).labelled.tolist()
    assert got[:6] == [280, 556, 825, 1069, 1938, 2546]
    assert got[-4:] == [46960, 47485, 47811, 48421] and sum(got) == 2_130_885


def test_unknown_label_rng_is_refused():
    with pytest.raises(ConfigError, match="valid: torch, numpy"):
        label_split(torch.arange(100) % 10, 10, 0, 10, 10, rng="python")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 2**32])
@pytest.mark.parametrize("rng", ["torch", "numpy"])
def test_a_seed_outside_32_bits_is_refused(seed, rng):
    with pytest.raises(ConfigError, match="label seed must be in 0.."):
        label_split(torch.arange(100) % 10, 10, seed, 10, 10, rng=rng)


def test_the_first_class_short_of_examples_is_named():
    # class 0 has 4 examples, class 1 only 2: the message names class 0, the first short one
    y = torch.cat([torch.zeros(4), torch.ones(2), torch.arange(2, 10).repeat(10)]).long()
    with pytest.raises(ConfigError, match="class 0 has only 4"):
        label_split(y, 50, 0, 0, 10)


def test_resume_with_another_label_rng_is_refused(tmp_path, data_dir, capsys):
    from ppvae import load
    from ppvae.cli import main
    from tests.conftest import REPO

    tiny = ["--set", "data.n_train=600", "--set", "data.n_test=100", "--set", "semi.n_valid=100",
            "--set", "model.hidden=[8]", "--set", "guide.hidden=[8]",
            "--set", "guide.classifier_hidden=[8]", "--data-dir", str(data_dir),
            "--no-progress", "--config", str(REPO / "configs" / "m2_mnist.toml"),
            "--labels", "20", "--out", str(tmp_path / "r")]
    assert main(["ssl", "--epochs", "1", "--set", "semi.label_rng=numpy", *tiny]) == 0
    assert load(tmp_path / "r").config.semi.label_rng == "numpy"
    capsys.readouterr()
    assert main(["ssl", "--resume", "--epochs", "2", *tiny]) == 2
    assert "label_rng" in capsys.readouterr().err
