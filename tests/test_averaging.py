"""Parameter averaging (train.ema): the average's arithmetic, what is saved, and resuming."""

from __future__ import annotations

import pytest
import torch

from ppvae import fit, load
from ppvae.averaging import ParamAverage
from ppvae.config import from_dict
from ppvae.errors import ConfigError
from tests.test_resume import CFG, Interrupt, strip

EMA_CFG = {**CFG, "train": {**CFG["train"], "ema": 0.9}}


def test_average_follows_its_formula_and_swaps_back():
    p = torch.nn.Parameter(torch.tensor([0.0, 1.0]))
    avg = ParamAverage([p], decay=0.5)
    expected = p.detach().clone()
    for t, value in enumerate([torch.tensor([2.0, 3.0]), torch.tensor([-1.0, 5.0])], start=1):
        with torch.no_grad():
            p.copy_(value)
        avg.update()
        w = 1 - min(0.5, (1 + t) / (10 + t))
        expected = (1 - w) * expected + w * value
        torch.testing.assert_close(avg.shadow[0], expected)
    live = p.detach().clone()
    with avg.applied():
        torch.testing.assert_close(p.detach(), expected)
    assert torch.equal(p.detach(), live)
    other = ParamAverage([torch.nn.Parameter(torch.zeros(2))], decay=0.5)
    other.load_state_dict(avg.state_dict())
    assert torch.equal(other.shadow[0], avg.shadow[0]) and other.updates == 2


def test_checkpoint_holds_the_average_and_training_goes_on_from_the_live_weights(tmp_path):
    result = fit(EMA_CFG, out=tmp_path / "run")
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    loaded = load(tmp_path / "run").pair.model.state_dict()
    returned = result.model.state_dict()
    differs = False
    for name, value in state["model"].items():
        assert torch.equal(loaded[name], value) and torch.equal(returned[name], value)
        differs |= not torch.equal(state["live"]["model"][name], value)
    assert differs, "the saved weights should be the average, not the last step's"
    plain = fit(CFG, out=tmp_path / "plain")  # same seed and steps, no average
    for name, value in plain.model.state_dict().items():
        assert torch.equal(state["live"]["model"][name], value)


def test_resume_with_average_matches_uninterrupted_run(tmp_path):
    full = fit(EMA_CFG, out=tmp_path / "full")
    out = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        fit(EMA_CFG, out=out, hooks=Interrupt(epoch=3))
    resumed = fit(EMA_CFG, out=out, resume=True)
    assert strip(resumed.metrics) == strip(full.metrics)
    got, want = resumed.model.state_dict(), full.model.state_dict()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=0)


@pytest.mark.parametrize("ema", [1.0, -0.1, float("nan")])
def test_bad_decay_is_refused(ema):
    with pytest.raises(ConfigError, match=r"train.ema must be in \[0, 1\)"):
        from_dict({**CFG, "train": {**CFG["train"], "ema": ema}})
