"""``ppvae evaluate --keep-freed-memory`` against glibc's default malloc settings.

    python -m benchmarks.speed_malloc runs/vae_1ep --n 100

glibc's malloc settings hold for a whole process, so each measurement is a fresh
``python -m ppvae evaluate RUN --k K --n N`` process, alternating ``--keep-freed-memory``
(freed memory kept for reuse) with glibc's default for several rounds. Prints the importance-sampled
log p(x)'s seconds per image as ``evaluate`` measures them (median and min), the paired
ratio, and the extrapolation (not a measurement) to 10,000 images.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.common import guarded, positive
from benchmarks.speed import paired_ratio
from ppvae.errors import RunError


def evaluate_seconds(run: str, k: int, n: int, data_dir: str | None, keep: bool) -> float:
    """Seconds the log p(x) of ``n`` test images took in a fresh ``ppvae evaluate``."""
    cmd = [sys.executable, "-m", "ppvae", "evaluate", run, "--k", str(k), "--n", str(n),
           "--no-progress", *(["--data-dir", data_dir] if data_dir else []),
           *(["--keep-freed-memory"] if keep else [])]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RunError(f"`{' '.join(cmd[1:])}` failed with exit code {done.returncode}: {last}")
    result = json.loads((Path(run) / f"evaluate-k{k}-n{n}.json").read_text())
    return float(result["log_px_seconds"])


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run")
    p.add_argument("--data-dir")
    p.add_argument("--k", type=positive, default=5000)
    p.add_argument("--n", type=positive, default=100)
    p.add_argument("--rounds", type=positive, default=5)
    args = p.parse_args(argv)
    times: dict[str, list[float]] = {"--keep-freed-memory": [], "glibc default": []}
    for r in range(args.rounds):
        for name in times if r % 2 == 0 else reversed(list(times)):
            secs = evaluate_seconds(args.run, args.k, args.n, args.data_dir,
                                    keep=name == "--keep-freed-memory")
            times[name].append(secs / args.n)
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    print(f"\nppvae evaluate {args.run} --k {args.k} --n {args.n}: {args.rounds} rounds")
    print(f"{'malloc':<20}{'median ms/image':>17}{'min':>8}{'10,000 images (extrapolated)':>31}")
    for name, t in times.items():
        med = statistics.median(t)
        print(f"{name:<20}{med * 1e3:>17.1f}{min(t) * 1e3:>8.1f}{med * 1e4 / 60:>27.1f} min")
    kept, system = times["--keep-freed-memory"], times["glibc default"]
    print(f"kept / system, paired median: {paired_ratio(kept, system):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
