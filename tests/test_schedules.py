"""Learning-rate schedules."""

from __future__ import annotations

import pytest

from ppvae.errors import ConfigError
from ppvae.schedules import burda_stage, learning_rate


def test_burda_stages_last_three_to_the_i_epochs():
    stages = [burda_stage(e) for e in range(1, 3281)]
    for i in range(8):
        assert stages.count(i) == 3**i
    assert stages[0] == 0 and stages[-1] == 7
    assert burda_stage(3281) == 8


def test_learning_rates():
    assert learning_rate("constant", 1e-3, 500) == 1e-3
    assert learning_rate("burda", 1e-3, 1) == 1e-3
    assert learning_rate("burda", 1e-3, 3280) == pytest.approx(1e-3 * 10 ** (-1))
    with pytest.raises(ConfigError, match="unknown lr schedule"):
        learning_rate("cosine", 1e-3, 1)


def test_burda_scaled_keeps_stage_proportions():
    paper = [learning_rate("burda", 1e-3, e) for e in range(1, 3281)]
    assert [learning_rate("burda_scaled", 1e-3, e, 3280) for e in range(1, 3281)] == paper
    short = [learning_rate("burda_scaled", 1e-3, e, 328) for e in range(1, 329)]
    assert short[0] == 1e-3 and short[-1] == pytest.approx(1e-4)
    assert sorted(short, reverse=True) == short
    # the last stage (2187 of 3280 epochs) keeps its share: 2/3 of the run at 1e-4
    assert short.count(short[-1]) == pytest.approx(328 * 2187 / 3280, abs=1)
    with pytest.raises(ConfigError, match="outside"):
        learning_rate("burda_scaled", 1e-3, 329, 328)
