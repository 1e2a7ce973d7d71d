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
