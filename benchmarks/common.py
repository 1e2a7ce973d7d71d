"""What every benchmark records: the machine, the versions, and where its results go."""

from __future__ import annotations

import datetime
import functools
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ppvae.cli import argument_type, positive, seed_value
from ppvae.errors import PPVAEError

__all__ = ["fraction", "guarded", "machine", "machine_tag", "positive", "results_path",
           "seed_value", "semi_run"]

RESULTS = Path(__file__).resolve().parent / "results"

Main = Callable[[list[str] | None], int]


def guarded(main: Main) -> Main:
    """``main`` with ppvae's errors and unreadable or unwritable files reported as one line
    on stderr and exit code 2, as the ``ppvae`` command reports them."""
    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except PPVAEError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            print(f"error: cannot read or write{where}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    return wrapper


#: a number in (0, 1]
fraction = argument_type(float, "a number", lambda v: 0 < v <= 1, "in (0, 1]")


def _cpuinfo() -> tuple[str, set[str]]:
    """The CPU's model name and flags (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), set()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not model:
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return model or platform.machine(), flags


def machine_tag() -> str:
    """A short name for the CPU, for file names: ``amd-epyc-avx512``, ``intel-xeon-avx2``."""
    model, flags = _cpuinfo()
    words = model.lower().replace("(r)", "").replace("(tm)", "").split()
    vendor = "-".join(w for w in words[:2] if w.isalnum()) or platform.machine()
    isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else platform.machine()
    return f"{vendor}-{isa}"


def machine() -> dict[str, Any]:
    """The machine and software a figure was measured with."""
    import pyro
    import torch

    model, flags = _cpuinfo()
    return {"cpu": model, "avx512": "avx512f" in flags, "cpus": os.cpu_count(),
            "torch": torch.__version__, "pyro": pyro.__version__,
            "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "date": datetime.date.today().isoformat()}


def results_path(name: str) -> Path:
    """``benchmarks/results/NAME_MACHINE_DATE.json``."""
    return RESULTS / f"{name}_{machine_tag()}_{datetime.date.today().isoformat()}.json"


def semi_run(path: str, data_dir: str | None,
             checkpoint: str = "checkpoint.pt") -> tuple[Any, Any, Any, int]:
    """A semi-supervised run with labelled data: ``(run, its [semi] table, its data, the
    number of classes)``; :class:`ppvae.errors.ConfigError` for any other run."""
    from ppvae.api import load
    from ppvae.errors import ConfigError

    run = load(path, checkpoint)
    semi = run.config.semi
    if semi is None:
        raise ConfigError(f"{path} is not a semi-supervised run")
    data = run.load_data(data_dir)
    classes = run.spec.num_classes
    if data.y_train is None or data.y_test is None or not classes:
        raise ConfigError(f"{path}'s data have no labels")
    return run, semi, data, classes
