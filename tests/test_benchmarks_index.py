"""``python -m benchmarks`` lists every benchmark with its command; the library never
imports from ``benchmarks``."""

from __future__ import annotations

import re

from benchmarks.__main__ import SUPPORT, entries, main
from tests.conftest import REPO


def test_every_benchmark_is_listed_with_a_command(capsys):
    assert main([]) == 0
    printed = capsys.readouterr().out
    modules = {p.stem for p in (REPO / "benchmarks").glob("*.py")} - SUPPORT
    listed = {name for name, _, _ in entries()}
    assert listed == modules and {"speed", "speed_m2", "ssl_table"} <= listed
    for name, summary, command in entries():
        assert summary and command.startswith(f"python -m benchmarks.{name}")
        assert name in printed
    assert main(["--bogus"]) == 2


def test_results_are_named_by_machine_and_date():
    pattern = re.compile(r"^[a-z0-9_-]+_[a-z]+-[a-z0-9-]+_\d{4}-\d{2}-\d{2}\.json$")
    names = [p.name for p in (REPO / "benchmarks" / "results").glob("*")]
    assert names and all(pattern.match(n) for n in names), names


def test_the_library_does_not_import_benchmarks():
    for folder in ("ppvae", "models", "guides"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text()
            assert not re.search(r"^\s*(from|import) benchmarks", text, re.M), path
