"""docs/options.md is the output of ``ppvae list --options``: the option reference cannot
drift from the dataclasses that define the options."""

from __future__ import annotations

import dataclasses

from ppvae.cli import main
from ppvae.config import SemiConfig, TrainConfig
from ppvae.reference import options_markdown
from ppvae.registry import DATASETS, GUIDES, MODELS
from tests.conftest import REPO


def test_docs_options_page_is_up_to_date(capsys):
    assert main(["list", "--options"]) == 0
    printed = capsys.readouterr().out
    assert printed == options_markdown()
    page = (REPO / "docs" / "options.md").read_text()
    assert page == printed, "docs/options.md is stale: ppvae list --options > docs/options.md"


def test_every_option_is_in_the_reference():
    text = options_markdown()
    for cls, prefix in ((TrainConfig, "train"), (SemiConfig, "semi")):
        for f in dataclasses.fields(cls):
            assert f"`{prefix}.{f.name}`" in text
    for prefix, reg in (("data", DATASETS), ("model", MODELS), ("guide", GUIDES)):
        for entry in reg.entries():
            assert f'`{prefix}.name = "{entry.name}"`' in text
            for f in dataclasses.fields(entry.config):
                assert f"`{prefix}.{f.name}`" in text
