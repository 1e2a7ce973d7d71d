"""Pick ATen's AVX2 kernels on CPUs where its AVX-512 ``log``/``log1p``/``softplus`` are slow.

On some AVX-512 CPUs (seen on an AMD EPYC) PyTorch's AVX-512 builds of these functions run
several times slower than its AVX2 ones, and they dominate a VAE's step. ATen reads its
choice (``ATEN_CPU_CAPABILITY``) once, when torch loads, so the ``ppvae`` command decides
before it imports torch: only when the user has not set the variable, only on a CPU with
AVX-512, and only when a short probe (two small subprocesses, run once per CPU model and
torch version, remembered in the user cache) measured the AVX2 kernels at least
:data:`MIN_GAIN` times faster; never under torchrun (set the variable yourself there, so
that every process uses the same kernels). Nothing here imports torch; the setting takes effect in
processes that load torch after it is made (the ``ppvae`` command restarts itself).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

ENV = "ATEN_CPU_CAPABILITY"
MIN_GAIN = 1.5
PROBE = """
import time, torch
torch.set_num_threads(1)
x = torch.randn(1_000_000)
f = torch.nn.functional.softplus
for _ in range(3):
    f(x); torch.log1p(x.abs())
tic = time.perf_counter()
for _ in range(10):
    f(x); torch.log1p(x.abs())
print(time.perf_counter() - tic, torch.__version__)
"""


def cpu_model() -> tuple[str, bool]:
    """The CPU's model name and whether it has AVX-512 (Linux; ``("", False)`` elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "", False
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                  if line.startswith("model name")), "")
    return model, " avx512f" in text


def _time(capability: str | None) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if capability is not None:
        env[ENV] = capability
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    return float(out[0]), out[1]


def probe(cache: Path) -> dict:
    """The probe's result for this CPU model and torch version (measured once, then read
    from ``cache``)."""
    model, _ = cpu_model()
    key = {"cpu": model, "python": os.path.realpath(sys.executable), "torch": version("torch")}
    try:
        known = json.loads(cache.read_text())
        if isinstance(known, dict) and all(known.get(k) == v for k, v in key.items()) \
                and isinstance(known.get("gain"), (int, float)):
            return known
    except (OSError, ValueError):
        pass
    default, _ = _time(None)
    avx2, _ = _time("avx2")
    result = {**key, "default_s": default, "avx2_s": avx2, "gain": default / avx2}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result, indent=2))
        os.replace(tmp, cache)
    except OSError:
        pass
    return result


def cache_file() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "ppvae" / "cpu_kernels.json"


def choose_kernels() -> str | None:
    """Set ``ATEN_CPU_CAPABILITY=avx2`` when it helps (see the module's text); returns a
    note for stderr when it did, else ``None``."""
    if ENV in os.environ:
        return None
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:  # torchrun: every process the same
        return None
    _, avx512 = cpu_model()
    if not avx512:
        return None
    try:
        result = probe(cache_file())
    except (OSError, ValueError, IndexError, LookupError, subprocess.SubprocessError):
        return None
    if result["gain"] < MIN_GAIN:
        return None
    os.environ[ENV] = "avx2"
    return (f"ppvae: using ATen's AVX2 kernels ({ENV}=avx2): its AVX-512 softplus/log1p "
            f"measured {result['gain']:.1f}x slower on this CPU; --native-kernels turns this "
            "off")
