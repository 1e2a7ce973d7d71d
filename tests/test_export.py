"""``ppvae export``: weights-only copies of runs that load, evaluate and give the same
numbers, taking the feature VAE of an M1+M2 run along."""

from __future__ import annotations

import json

import pytest
import torch

from ppvae import load
from ppvae.cli import main
from ppvae.errors import RunError
from ppvae.rundir import KEYS, RunDir, load_weights, save_weights
from ppvae.weightsfile import load_tensors, save_tensors
from tests.conftest import REPO
from tests.test_features import STAGE1  # a tiny M1 (feature VAE) config

TOY = str(REPO / "configs" / "toy2d.toml")


def test_an_export_loads_to_the_same_weights_and_cannot_be_resumed(tmp_path, data_dir, capsys,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", TOY, "--epochs", "2", "--set", "data.n_train=300",
                 "--out", "run", "--no-progress", "--data-dir", str(data_dir)]) == 0
    assert main(["export", "run", "pre"]) == 0
    assert "weights only" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "pre").iterdir()) == [
        "metrics.jsonl", "run.json", "weights.guide.safetensors", "weights.model.safetensors",
        "weights.safetensors"]
    tensors, metadata = load_tensors(tmp_path / "pre" / "weights.safetensors")
    assert set(metadata) == {"ppvae"} and not tensors
    assert not {"optim", "rng", "gen"} & set(json.loads(metadata["ppvae"]))
    for part, module in (("model", load("run").model), ("guide", load("run").guide)):
        tensors, _ = load_tensors(tmp_path / "pre" / f"weights.{part}.safetensors")
        assert tensors.keys() == module.state_dict().keys()
    original, copy = load("run"), load("pre")
    for a, b in ((original.model, copy.model), (original.guide, copy.guide)):
        for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert torch.equal(p, q), name
    assert copy.metrics == original.metrics and copy.config == original.config
    capsys.readouterr()
    assert main(["train", "--resume", "--out", "pre", "--epochs", "3", "--no-progress",
                 "--data-dir", str(data_dir)]) == 2
    assert "holds weights only" in capsys.readouterr().err
    assert main(["export", "run", "pre"]) == 2  # not over an existing export
    assert set(KEYS) <= set(RunDir("run").load())  # the run itself is untouched


def test_an_m1m2_export_takes_its_feature_vae_and_evaluates_alike(tmp_path, data_dir, capsys,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m1.toml").write_text(STAGE1)
    common = ["--data-dir", str(data_dir), "--no-progress"]
    assert main(["ssl", "--config", str(REPO / "configs" / "m1m2_mnist.toml"),
                 "--set", "data.run=m1", "--set", "data.stage1=m1.toml",
                 "--set", "model.hidden=[16]", "--set", "guide.hidden=[16]",
                 "--set", "guide.classifier_hidden=[16]", "--set", "model.z_dim=2",
                 "--set", "guide.z_dim=2", "--set", "semi.n_valid=100", "--labels", "20",
                 "--epochs", "2", "--out", "m2", *common]) == 0
    assert main(["export", "m2", "pretrained/m2", "--best"]) == 0
    features = tmp_path / "pretrained" / "m2" / "features"
    assert load_tensors(features / "weights.guide.safetensors")[0]  # the encoder only
    assert not (features / "weights.model.safetensors").exists()
    run = load("pretrained/m2")
    assert run.config.data.options.run == "pretrained/m2/features"
    best = load("m2", checkpoint="best.pt")
    x = best.load_data(data_dir).x_test
    assert torch.equal(run.predict(run.load_data(data_dir).x_test), best.predict(x))
    capsys.readouterr()
    assert main(["evaluate", "pretrained/m2", "--k", "2", *common]) == 0
    assert main(["evaluate", "m2", "--best", "--k", "2", *common]) == 0
    lines = [s for s in capsys.readouterr().out.splitlines() if "test error" in s]
    assert len(lines) == 2 and lines[0].split("%")[0] == lines[1].split("%")[0]
    data = ["--data-dir", str(data_dir)]
    assert main(["sample", "pretrained/m2", "--out", "s.png", *data]) == 2
    assert "weights of its guide only, not of its model" in capsys.readouterr().err
    assert main(["sample", "m2", "--out", "s.png", *data]) == 0  # the run itself can

    assert main(["export", "m2", "sharded", "--best", "--max-file-mb", "0.004"]) == 0
    files = sorted((tmp_path / "sharded").rglob("*.safetensors"))
    assert any(".1-of-" in f.name for f in files)
    assert all(f.stat().st_size <= 4000 + 2000 for f in files)  # 4 kB of tensors + a header
    sharded = load("sharded")
    assert torch.equal(sharded.predict(x), best.predict(x))


def shard_files(folder, part):
    """The shard files of ``part`` in ``folder``, in the order of their numbers."""
    files = folder.glob(f"weights.{part}.*-of-*.safetensors")
    return sorted(files, key=lambda f: int(f.name.split(".")[2].split("-")[0]))


def test_shards_hold_at_most_the_limit_and_join_to_the_same_tensors(tmp_path):
    g = torch.Generator().manual_seed(0)
    tensors = {"big.weight": torch.randn(50, 7, generator=g), "b": torch.randn(3, generator=g),
               "scalar": torch.tensor(2.5), "row": torch.randn(1, 30, generator=g)}
    state = {"format": 1, "epoch": 3, "parts": ["guide"], "model": {}, "guide": tensors,
             "config": "{}", "data_source": "x", "checksum": "c"}
    limit = 7 * 4 * 10  # ten rows of big.weight
    save_weights(dict(state), tmp_path / "weights.safetensors", max_file_bytes=limit)
    files = shard_files(tmp_path, "guide")
    # 1,400 bytes of big.weight fill five files; b, scalar and row (136 bytes) the sixth
    assert len(files) == 6 and not (tmp_path / "weights.guide.safetensors").exists()
    for i, f in enumerate(files, 1):
        held, meta = load_tensors(f)
        assert meta == {"ppvae_part": "guide", "ppvae_shard": f"{i}/6"}
        assert sum(t.numel() * 4 for t in held.values()) <= limit
    back = load_weights(tmp_path / "weights.safetensors")
    assert back.keys() == state.keys() and back["guide"].keys() == tensors.keys()
    for k, t in tensors.items():
        assert torch.equal(back["guide"][k], t), k

    files[2].unlink()
    with pytest.raises(RunError, match=files[2].name):
        load_weights(tmp_path / "weights.safetensors")
    files[2].write_bytes(files[1].read_bytes())  # shard 2 where shard 3 belongs
    with pytest.raises(RunError, match="shard 3 of"):
        load_weights(tmp_path / "weights.safetensors")
    with pytest.raises(ValueError, match="marks blocks of rows"):
        save_weights({**state, "guide": {"a#1": torch.zeros(2)}}, tmp_path / "w.safetensors",
                     max_file_bytes=4)
    with pytest.raises(ValueError, match="a row of it is 120 bytes"):
        save_weights({**state, "guide": {"row": tensors["row"]}}, tmp_path / "w.safetensors",
                     max_file_bytes=100)


@pytest.mark.parametrize("blocks", [
    {"w#0": torch.zeros(2, 3), "w#1": torch.zeros(2, 4)},   # rows of other lengths
    {"w#0": torch.zeros(2, 3), "w#01": torch.zeros(2, 3)},  # not the number 1 as written
    {"w#1": torch.zeros(2, 3)},                             # no first block
    {"w#0": torch.zeros(2), "w#1": torch.zeros(2, dtype=torch.float64)},
    {"w#0": torch.tensor(1.0)},                             # a scalar is no block of rows
    {"w": torch.zeros(2), "w#0": torch.zeros(2)},           # whole and in blocks
])
def test_blocks_of_rows_that_do_not_fit_together_are_refused(tmp_path, blocks):
    fields = {"format": 1, "epoch": 3, "parts": ["guide"], "config": "{}", "data_source": "x",
              "checksum": "c", "shards": {"guide": 2}}
    save_tensors(tmp_path / "weights.safetensors", {}, {"ppvae": json.dumps(fields)})
    names = sorted(blocks)
    for i, group in enumerate(([names[0]], names[1:]), 1):
        save_tensors(tmp_path / f"weights.guide.{i}-of-2.safetensors",
                     {k: blocks[k] for k in group},
                     {"ppvae_part": "guide", "ppvae_shard": f"{i}/2"})
    with pytest.raises(RunError, match="cannot read"):
        load_weights(tmp_path / "weights.safetensors")


def test_a_weights_file_may_not_claim_too_many_shards(tmp_path):
    fields = {"format": 1, "epoch": 3, "parts": ["guide"], "config": "{}", "data_source": "x",
              "checksum": "c", "shards": {"guide": 10**12}}
    save_tensors(tmp_path / "weights.safetensors", {}, {"ppvae": json.dumps(fields)})
    with pytest.raises(RunError, match="bad 'shards' field"):
        load_weights(tmp_path / "weights.safetensors")


def test_a_limit_that_is_not_positive_is_exit_2(tmp_path, capsys):
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "out"),
                 "--max-file-mb", "0"]) == 2
    assert "must be a finite number > 0" in capsys.readouterr().err


@pytest.mark.usefixtures("data_dir")
def test_export_of_a_missing_run_is_exit_2(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nothing"), str(tmp_path / "out")]) == 2
    assert "not a ppvae run folder" in capsys.readouterr().err


def test_an_export_refuses_features_that_changed_and_is_used_as_it_is(tmp_path, data_dir,
                                                                     capsys, monkeypatch):
    """A classifier is never packed with another feature VAE than its own; an exported
    feature VAE is read as it is, never trained further, and refused at once on resume."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m1.toml").write_text(STAGE1)
    common = ["--data-dir", str(data_dir), "--no-progress"]
    tiny = ["--set", "model.hidden=[16]", "--set", "guide.hidden=[16]",
            "--set", "guide.classifier_hidden=[16]", "--set", "model.z_dim=2",
            "--set", "guide.z_dim=2", "--set", "semi.n_valid=100", "--labels", "20",
            "--epochs", "1"]
    m1m2 = str(REPO / "configs" / "m1m2_mnist.toml")
    assert main(["ssl", "--config", m1m2, "--set", "data.run=m1", "--set",
                 "data.stage1=m1.toml", *tiny, "--out", "m2", *common]) == 0
    assert main(["train", "--resume", "--out", "m1", "--epochs", "3", *common]) == 0
    capsys.readouterr()
    assert main(["export", "m2", "pre"]) == 2
    assert "changed since it was trained" in capsys.readouterr().err
    assert not (tmp_path / "pre").exists() and not list(tmp_path.glob(".pre*"))

    assert main(["export", "m1", "m1_export"]) == 0  # 3 epochs; the stage1 below asks for 9
    (tmp_path / "m1_long.toml").write_text(STAGE1.replace("epochs = 2", "epochs = 9"))
    assert main(["ssl", "--config", m1m2, "--set", "data.run=m1_export", "--set",
                 "data.stage1=m1_long.toml", *tiny, "--out", "m2b", *common]) == 0
    assert load("m1_export").metrics[-1]["epoch"] == 3  # used as it is, not trained on
    assert not (tmp_path / "m1_export" / ".lock").exists()
    capsys.readouterr()
    assert main(["train", "--resume", "--previous", "--out", "m1_export", *common]) == 2
    assert "holds weights only" in capsys.readouterr().err
