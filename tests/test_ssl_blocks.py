"""benchmarks.ssl_blocks: error per block of images, with known answers."""

from __future__ import annotations

import pytest
import torch

from benchmarks.ssl_blocks import block_errors, main
from ppvae.errors import ConfigError


def test_block_errors_counts_each_block_and_a_short_last_one():
    y = torch.tensor([0, 1, 2, 3, 4, 5, 6])
    pred = torch.tensor([0, 9, 9, 3, 4, 5, 9])
    assert block_errors(pred, y, 3) == pytest.approx([2 / 3, 0.0, 1.0])
    assert block_errors(pred, y, 7) == pytest.approx([3 / 7])
    assert block_errors(y, y, 2) == [0.0] * 4


def test_block_errors_refuses_an_empty_block():
    with pytest.raises(ConfigError, match="block must be >= 1"):
        block_errors(torch.zeros(3), torch.zeros(3), 0)


def test_a_missing_run_exits_2(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "error:" in capsys.readouterr().err
