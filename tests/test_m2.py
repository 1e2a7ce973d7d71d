"""The semi-supervised M2 pair: enumeration, labelled and unlabelled steps, label splits."""

from __future__ import annotations

import math

import pyro
import pytest
import torch
from torch.nn import functional as F

from ppvae.data.base import DataSpec
from ppvae.data.labels import label_split
from ppvae.elbos import make_elbo
from ppvae.errors import ConfigError, IncompatiblePairError
from ppvae.guides import M2Guide, M2GuideOptions, NormalGuide, NormalGuideOptions
from ppvae.models import M2, VAE, M2Options, VAEOptions
from ppvae.pair import Pair, check_pair, checked

SPEC = DataSpec(x_dim=12, num_classes=4)


def small_m2() -> Pair:
    pair = Pair(M2(M2Options(z_dim=3, hidden=(8,)), SPEC),
                M2Guide(M2GuideOptions(z_dim=3, hidden=(8,), classifier_hidden=(6,)), SPEC))
    return checked(pair, torch.rand(2, 12))


def normal_log_prob(v: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return (-0.5 * ((v - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


def test_enumeration_equals_the_explicit_sum_over_classes():
    pair = small_m2()
    x = torch.rand(5, 12).bernoulli()
    pyro.set_rng_seed(7)
    loss = make_elbo("enum").differentiable_loss(pair.model, pair.guide, x)
    pyro.set_rng_seed(7)
    eps = torch.randn(4, 5, 3)  # the guide's z draw, one per enumerated class
    g, m = pair.guide, pair.model
    logq_y = F.log_softmax(g.classify(x), -1)  # (5, 4)
    elbo = -(logq_y.exp() * logq_y).sum(-1)  # entropy of q(y|x)
    for c in range(4):
        yc = torch.full((5,), c)
        h = g.encoder(x, yc)
        loc, scale = g.loc(h), g.log_scale(h).exp()
        z = loc + scale * eps[c]
        logits = m.head.logits(m.decoder(z, yc))
        log_px = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        term = (log_px + math.log(1 / 4) + normal_log_prob(z, 0 * z, 1 + 0 * z)
                - normal_log_prob(z, loc, scale))
        elbo = elbo + logq_y[:, c].exp() * term
    torch.testing.assert_close(loss, -elbo.sum(), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("labelled", [True, False])
def test_labelled_and_unlabelled_steps_reduce_the_loss(labelled):
    pair = small_m2()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 12, generator=g).bernoulli()
    y = torch.randint(0, 4, (32,), generator=g) if labelled else None
    elbo = make_elbo("enum")
    params = pair.parameters()
    optim = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for _ in range(80):
        loss = elbo.differentiable_loss(pair.model, pair.guide, x, y) if labelled else \
            elbo.differentiable_loss(pair.model, pair.guide, x)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) < sum(losses[:10])


def test_m2_guide_with_a_plain_vae_model_is_refused():
    pair = Pair(VAE(VAEOptions(z_dim=3, hidden=(8,)), SPEC),
                M2Guide(M2GuideOptions(z_dim=3, hidden=(8,)), SPEC))
    with pytest.raises(IncompatiblePairError, match=r"guide site\(s\) \['y'\] are not latent"):
        check_pair(pair, torch.rand(2, 12))
    pair = Pair(M2(M2Options(z_dim=3), SPEC), NormalGuide(NormalGuideOptions(z_dim=3), SPEC))
    with pytest.raises(IncompatiblePairError, match=r"latent site\(s\) \['y'\] have no site"):
        check_pair(pair, torch.rand(2, 12))


def test_m2_needs_classes():
    with pytest.raises(ConfigError, match="needs labelled data"):
        M2(M2Options(), DataSpec(x_dim=12))


def test_label_split_is_balanced_reproducible_and_disjoint():
    y = torch.arange(1000) % 10
    a, b = label_split(y, 100, seed=3, n_valid=200), label_split(y, 100, seed=3, n_valid=200)
    assert torch.equal(a.labelled, b.labelled)
    assert torch.bincount(y[a.labelled], minlength=10).tolist() == [10] * 10
    assert a.labelled.max() < 800 and a.valid.tolist() == list(range(800, 1000))
    assert len(a.labelled) + len(a.unlabelled) == 800
    assert not set(a.labelled.tolist()) & set(a.unlabelled.tolist())
    c = label_split(y, 100, seed=4, n_valid=200)
    assert not torch.equal(a.labelled, c.labelled)


@pytest.mark.parametrize(("labels", "n_labels", "message"), [
    (torch.arange(100) % 10, 200, "class 0 has only"),
    (torch.arange(100) % 10, 15, "multiple of 10"),
    (torch.tensor([0, 1, 12, 3]), 10, "label 12 is outside 0..9"),
    (torch.tensor([0, -1, 2, 3]), 10, "label -1 is outside 0..9"),
])
def test_label_split_bad_input(labels, n_labels, message):
    with pytest.raises(ConfigError, match=message):
        label_split(labels, n_labels, seed=0, n_valid=10)


def test_ssl_cli_end_to_end_with_predict_and_best_checkpoint(tmp_path, data_dir, capsys):
    from ppvae import load
    from ppvae.cli import main
    from tests.conftest import REPO

    out = tmp_path / "m2"
    rc = main(["ssl", "--config", str(REPO / "configs" / "m2_mnist.toml"), "--labels", "20",
               "--seed", "1", "--set", "data.n_train=600", "--set", "data.n_test=100",
               "--set", "semi.n_valid=100", "--set", "model.hidden=[32]",
               "--set", "guide.hidden=[32]", "--set", "guide.classifier_hidden=[32]",
               "--set", "model.z_dim=4", "--set", "guide.z_dim=4", "--epochs", "2",
               "--data-dir", str(data_dir), "--out", str(out), "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "valid_error" in text and "best validation error" in text
    assert (out / "best.pt").is_file()
    run = load(out)
    assert run.config.semi.labels == 20 and run.config.semi.label_seed == 1
    x = run.load_data(data_dir).x_test[:7]
    proba = run.predict_proba(x)
    assert proba.shape == (7, 10)
    torch.testing.assert_close(proba.sum(-1), torch.ones(7))
    assert torch.equal(run.predict(x), proba.argmax(-1))
    with pytest.raises(ConfigError, match=r"inputs of shape \(n, 784\)"):
        run.predict(x[:, :50])
    assert main(["evaluate", str(out), "--k", "3", "--n", "20", "--data-dir", str(data_dir),
                 "--no-progress"]) == 0
    assert "test error" in capsys.readouterr().out
    for cmd in (["confusion", "--best"], ["sample", "--n", "4"]):
        png = tmp_path / f"{cmd[0]}.png"
        assert main([cmd[0], str(out), *cmd[1:], "--data-dir", str(data_dir),
                     "--out", str(png)]) == 0
        assert png.stat().st_size > 1000


def test_ssl_is_train_with_a_semi_table(tmp_path, data_dir):
    from ppvae import load
    from ppvae.cli import main
    from tests.conftest import REPO

    tiny = ["--set", "data.n_train=600", "--set", "data.n_test=100", "--set", "semi.n_valid=100",
            "--set", "model.hidden=[8]", "--set", "guide.hidden=[8]",
            "--set", "guide.classifier_hidden=[8]", "--epochs", "1", "--data-dir", str(data_dir),
            "--no-progress", "--config", str(REPO / "configs" / "m2_mnist.toml")]
    assert main(["ssl", "--labels", "20", "--seed", "1", "--out", str(tmp_path / "a"),
                 *tiny]) == 0
    assert main(["train", "--set", "semi.labels=20", "--set", "semi.label_seed=1", "--seed", "1",
                 "--out", str(tmp_path / "b"), *tiny]) == 0
    a, b = load(tmp_path / "a"), load(tmp_path / "b")
    assert a.config == b.config
    strip = [{k: v for k, v in m.items() if k != "seconds"} for m in (a.metrics + b.metrics)]
    assert strip[0] == strip[1] and "valid_error" in strip[0]


def test_ssl_refuses_more_labels_than_images(tmp_path, data_dir, capsys):
    from ppvae.cli import main
    from tests.conftest import REPO

    rc = main(["ssl", "--config", str(REPO / "configs" / "m2_mnist.toml"), "--labels", "700",
               "--set", "data.n_train=600", "--set", "semi.n_valid=100",
               "--data-dir", str(data_dir), "--out", str(tmp_path / "r")])
    assert rc == 2
    assert "semi.labels = 700 leaves no unlabelled images" in capsys.readouterr().err


def test_accuracy_counts_every_example_without_batch_assumptions():
    from ppvae.evaluation import classification_error

    pair = small_m2()
    x = torch.rand(2003, 12)
    pred = pair.guide.classify(x).argmax(-1)
    y = pred.clone()
    y[:7] = (y[:7] + 1) % 4  # exactly 7 wrong
    assert classification_error(pair.guide, x, y) == pytest.approx(7 / 2003)


TINY = ["--set", "data.n_train=400", "--set", "data.n_test=50", "--set", "semi.n_valid=50",
        "--set", "model.hidden=[16]", "--set", "guide.hidden=[16]",
        "--set", "guide.classifier_hidden=[16]", "--set", "model.z_dim=3",
        "--set", "guide.z_dim=3", "--labels", "20", "--no-progress"]


def ssl(out, data_dir, *extra):
    from ppvae.cli import main
    from tests.conftest import REPO

    return main(["ssl", "--config", str(REPO / "configs" / "m2_mnist.toml"), *TINY,
                 "--data-dir", str(data_dir), "--out", str(out), *extra])


@pytest.mark.parametrize("labelled_draw", ["epoch", "step"])
def test_ssl_resume_matches_an_uninterrupted_run(tmp_path, data_dir, labelled_draw):
    from ppvae import load
    from ppvae.cli import main

    draw = ["--set", f"semi.labelled_draw={labelled_draw}", "--set", "data.pixels=binarized"]
    assert ssl(tmp_path / "full", data_dir, "--epochs", "3", *draw) == 0
    assert ssl(tmp_path / "cut", data_dir, "--epochs", "2", *draw) == 0
    assert main(["ssl", "--resume", "--out", str(tmp_path / "cut"), "--epochs", "3",
                 "--data-dir", str(data_dir), "--no-progress"]) == 0
    full, cut = load(tmp_path / "full"), load(tmp_path / "cut")

    def strip(ms):
        return [{k: v for k, v in m.items() if k != "seconds"} for m in ms]

    assert strip(cut.metrics) == strip(full.metrics)
    assert "train_objective" in full.metrics[0] and "valid_error" in full.metrics[0]
    best = load(tmp_path / "full", checkpoint="best.pt")
    assert best.config == full.config


def test_ssl_without_validation_and_wrong_elbo(tmp_path, data_dir, capsys):
    assert ssl(tmp_path / "nv", data_dir, "--epochs", "1", "--set", "semi.n_valid=0") == 0
    from ppvae import load

    assert "valid_error" not in load(tmp_path / "nv").metrics[0]
    capsys.readouterr()
    assert ssl(tmp_path / "tr", data_dir, "--set", "train.elbo=trace") == 2
    assert "Use elbo = 'enum'" in capsys.readouterr().err
    assert not (tmp_path / "tr").exists()


def test_ssl_needs_a_semi_table(tmp_path, capsys):
    from ppvae.cli import main
    from tests.conftest import REPO

    rc = main(["ssl", "--config", str(REPO / "configs" / "toy2d.toml"), "--labels", "10",
               "--out", str(tmp_path / "r")])
    assert rc == 2 and "has none" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("labelled_weight", [1.0, 3.0])
def test_semi_objective_is_the_weighted_sum_of_its_terms(labelled_weight):
    from ppvae.config import SemiConfig
    from ppvae.objectives import ElboObjective
    from ppvae.semi import SemiSupervisedObjective, label_log_prob

    pair = small_m2()
    g = torch.Generator().manual_seed(1)
    x_l, y_l = torch.rand(6, 12, generator=g).bernoulli(), torch.arange(6) % 4
    x_u = torch.rand(10, 12, generator=g).bernoulli()
    cfg = SemiConfig(labels=6, alpha=0.5, labelled_batch_size=3,
                     labelled_weight=labelled_weight)
    elbo = ElboObjective(make_elbo("enum"))
    objective = SemiSupervisedObjective(elbo, cfg, x_l, y_l, n_unlabelled=10, batch_size=5,
                                        seed=0)
    idx = objective.order[:3]  # the labelled batch the first step will draw
    pyro.set_rng_seed(3)
    total = objective(pair.model, pair.guide, x_u[:5], None)
    pyro.set_rng_seed(3)
    labelled = elbo(pair.model, pair.guide, x_l[idx], y_l[idx])
    nll = -label_log_prob(pair.guide, x_l[idx], y_l[idx], "y").sum()
    unlabelled = elbo(pair.model, pair.guide, x_u[:5], None)
    scale = (6 / 3) / 2  # two labelled batches cover the labels; two steps per epoch
    weight = 0.5 * (10 + 6) / 6  # alpha * N / N_labelled
    expected = unlabelled + scale * (labelled_weight * labelled + weight * nll)
    torch.testing.assert_close(total, expected)


def test_labelled_linear_is_a_linear_layer_on_the_concatenation():
    from ppvae.nets import LabelledLinear

    layer = LabelledLinear(6, 4, 5)
    full = torch.nn.Linear(10, 5)
    with torch.no_grad():
        full.weight.copy_(torch.cat([layer.linear.weight, layer.label_weight.T], 1))
        full.bias.copy_(layer.linear.bias)
    t, y = torch.randn(3, 6), torch.tensor([0, 3, 1])
    torch.testing.assert_close(layer(t, y), full(torch.cat([t, F.one_hot(y, 4).float()], -1)))
    enumerated = torch.arange(4).reshape(4, 1)  # (classes, 1) against a shared batch of t
    out = layer(t, enumerated)
    assert out.shape == (4, 3, 5)
    for c in range(4):
        torch.testing.assert_close(out[c], layer(t, torch.full((3,), c)))


def test_m2_needs_a_hidden_layer():
    with pytest.raises(ConfigError, match="at least one layer"):
        M2Options(hidden=()).validate()
    with pytest.raises(ConfigError, match="at least one layer"):
        M2GuideOptions(hidden=()).validate()


def test_confusion_counts_every_example():
    from ppvae.plots import confusion_counts, confusion_figure

    target = torch.tensor([0, 0, 1, 2, 2, 2, 1])
    pred = torch.tensor([0, 1, 1, 2, 0, 2, 1])
    counts = confusion_counts(pred, target, 3)
    assert counts.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert counts.sum() == 7
    assert "error 28.57%" in confusion_figure(pred, target, 3).axes[0].get_title()
    with pytest.raises(ConfigError, match="differ in shape"):
        confusion_counts(pred[:3], target, 3)
    with pytest.raises(ConfigError, match="labels must lie in 0..2"):
        confusion_counts(pred, target + 1, 3)


def test_class_conditional_rows_share_z():
    from pyro import poutine

    from ppvae.latent import class_conditional

    pair = small_m2()
    pyro.set_rng_seed(5)
    out = class_conditional(pair, 4, 3, 12)
    assert out.shape == (4, 3, 12)
    pyro.set_rng_seed(5)
    z = poutine.trace(pair.model).get_trace(torch.zeros(3, 12), torch.zeros(3, dtype=torch.long)
                                            ).nodes["z"]["value"]
    for c in range(4):
        logits = pair.model.head.logits(pair.model.decoder(z, torch.full((3,), c)))
        torch.testing.assert_close(out[c], torch.sigmoid(logits))
    assert not torch.allclose(out[0], out[1])


def test_labelled_layer_gradients_do_not_depend_on_thread_timing():
    from ppvae.nets import LabelledLinear

    # labelled rows: 1000 x 256 gradients summed into 10 rows of the label weights (indexing
    # accumulated them with atomic adds from several threads: bits varied run to run)
    layer = LabelledLinear(64, 10, 256)
    g = torch.Generator().manual_seed(0)
    t, y = torch.randn(1000, 64, generator=g), torch.randint(0, 10, (1000,), generator=g)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        grads = []
        for _ in range(5):
            layer.zero_grad()
            layer(t, y).square().sum().backward()
            grads.append(layer.label_weight.grad.clone())
    finally:
        torch.set_num_threads(threads)
    for g in grads[1:]:
        assert torch.equal(g, grads[0])


def test_eval_every_scores_some_epochs_and_selects_among_them(tmp_path, data_dir, capsys):
    from ppvae import load

    assert ssl(tmp_path / "r", data_dir, "--epochs", "5", "--set", "train.eval_every=2") == 0
    printed = capsys.readouterr().out
    metrics = load(tmp_path / "r").metrics
    scored = [m["epoch"] for m in metrics if "valid_error" in m]
    assert scored == [2, 4, 5]  # every second epoch, and the last
    assert all("test_elbo" in m and "test_error" in m for m in metrics if m["epoch"] in scored)
    line1 = next(s for s in printed.splitlines() if s.startswith("epoch 1/5"))
    assert "train ELBO" in line1 and "test ELBO" not in line1 and "valid_error" not in line1
    best = torch.load(tmp_path / "r" / "best.pt", weights_only=True)["epoch"]
    want = min((m for m in metrics if "valid_error" in m), key=lambda m: m["valid_error"])
    assert best == want["epoch"]


def _objective(labelled_draw: str, ctx=None, binarized: bool = False, device: str = "cpu"):
    from ppvae.config import SemiConfig
    from ppvae.data.base import TensorData
    from ppvae.objectives import ElboObjective
    from ppvae.semi import SemiSupervisedObjective

    g = torch.Generator().manual_seed(4)
    if binarized:  # grey levels, drawn as Bernoulli
        data = TensorData("b", SPEC, torch.rand(30, 12, generator=g), torch.zeros(2, 12),
                          dynamic_binarize=True)
    else:  # features: means plus noise of a known std
        data = TensorData("f", SPEC, torch.randn(30, 12, generator=g), torch.zeros(2, 12),
                          train_noise=torch.rand(30, 12, generator=g) + 0.5)
    rows = torch.arange(0, 30, 5)  # six labelled rows of the training data
    x_l = data.train_epoch(g)[rows].to(device)
    data = data.to(device)
    draw = None
    if labelled_draw == "step":
        def draw(idx, gen):
            return data.draw_rows(rows[idx], gen)
    objective = SemiSupervisedObjective(
        ElboObjective(make_elbo("enum")), SemiConfig(labels=6, labelled_batch_size=6),
        x_l, (torch.arange(6) % 4).to(device), n_unlabelled=24, batch_size=8,
        seed=0, ctx=ctx, draw=draw)
    return objective, data, rows


@pytest.mark.parametrize("binarized", [False, True])
def test_labelled_inputs_are_redrawn_every_step_only_when_asked(binarized):
    objective, data, rows = _objective("epoch", binarized=binarized)
    first, second = objective._labelled(lambda r: r)[0], objective._labelled(lambda r: r)[0]
    assert torch.equal(first.sort(0).values, second.sort(0).values)  # the epoch's one draw
    objective, data, rows = _objective("step", binarized=binarized)
    batches = [objective._labelled(lambda r: r) for _ in range(2000)]
    assert not torch.equal(batches[0][0].sort(0).values, batches[1][0].sort(0).values)
    # every draw of a row: x_train + train_noise * N(0, 1); labels stay with their rows
    xs, ys = torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])
    for k in (2, 3):  # the rows whose labels no other row has
        x = xs[ys == k]
        torch.testing.assert_close(x.mean(0), data.x_train[rows[k]], atol=0.1, rtol=0)
        if binarized:
            assert set(x.unique().tolist()) == {0.0, 1.0}
        else:
            torch.testing.assert_close(x.std(0), data.train_noise[rows[k]], atol=0.05, rtol=0)


@pytest.mark.parametrize(("labelled_draw", "binarized"),
                         [("epoch", False), ("step", False), ("step", True)])
def test_processes_split_the_one_process_labelled_batch(labelled_draw, binarized):
    from ppvae.distributed import Context

    one = _objective(labelled_draw, binarized=binarized)[0]._labelled(lambda r: r)
    parts = []
    for rank in range(2):
        ctx = Context(rank=rank, world=2)
        parts.append(_objective(labelled_draw, ctx, binarized)[0]._labelled(ctx.shard))
    torch.testing.assert_close(torch.cat([p[0] for p in parts]), one[0])
    assert torch.equal(torch.cat([p[1] for p in parts]), one[1])
