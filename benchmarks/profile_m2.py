"""Profile of one M1+M2 training step, with ATen's default CPU kernels and with its AVX2 ones.

    python -m benchmarks.profile_m2 [--steps 100] [--features 26] [--top 8]

The step of configs/m1m2_grey.toml (M2 with 500 hidden units, z2 = 50, y enumerated; a
batch of 200 unlabelled + 100 labelled rows, Adam) on random features of M1's active units
(26 for the M1 of configs/m1_adam3e-4.toml; the step's cost depends only on their number).
Each kernel set runs in a fresh process on one thread: warm-up, ``--steps`` timed steps,
then torch.profiler over 20 steps. Prints ms per step, the ratio default / AVX2 and the ops
that take the most self CPU time in each. Writes benchmarks/results/profile_m2_MACHINE_DATE.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import guarded, machine, positive, results_path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "m1m2_grey.toml"
KERNELS = {"default": None, "avx2": "avx2"}


def child(steps: int, features: int, top: int) -> dict[str, Any]:
    """Time and profile the step in this process."""
    import pyro
    import torch
    from torch.profiler import ProfilerActivity, profile

    from ppvae.config import load_config
    from ppvae.data.base import DataSpec
    from ppvae.objectives import elbo_objective
    from ppvae.pair import build_pair, checked
    from ppvae.semi import SemiSupervisedObjective
    from ppvae.train import make_optimizer, sgd_epoch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = load_config(CONFIG)
    n, n_l = 50_000, cfg.semi.labels
    x_u, x_l = torch.randn(n, features), torch.randn(n_l, features)
    y_l = torch.arange(n_l) % 10
    pair = checked(build_pair(cfg, DataSpec(x_dim=features, num_classes=10)), x_u[:2])
    t = cfg.train
    objective = SemiSupervisedObjective(elbo_objective(cfg, pair), cfg.semi, x_l, y_l, n,
                                        t.batch_size, seed=1)
    optim = make_optimizer(pair.parameters(), t.lr, t.adam_eps)

    def run(k: int) -> None:
        sgd_epoch(pair, objective, optim, x_u, torch.randint(n, (k * t.batch_size,)),
                  t.batch_size)

    with pyro.validation_enabled(False):
        run(10)
        tic = time.perf_counter()
        run(steps)
        ms = (time.perf_counter() - tic) / steps * 1e3
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            run(20)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    ops = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return {"ms_per_step": ms, "capability": torch.backends.cpu.get_cpu_capability(),
            "top_ops": [{"op": e.key, "share": e.self_cpu_time_total / total,
                         "ms_per_step": e.self_cpu_time_total / 1e3 / 20} for e in ops]}


def measure(capability: str | None, args: argparse.Namespace) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    if capability:
        env["ATEN_CPU_CAPABILITY"] = capability
    out = subprocess.run([sys.executable, "-m", "benchmarks.profile_m2", "--child",
                          "--steps", str(args.steps), "--features", str(args.features),
                          "--top", str(args.top)],
                         env=env, cwd=REPO, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


@guarded
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=positive, default=100)
    p.add_argument("--features", type=positive, default=26)
    p.add_argument("--top", type=positive, default=8)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(results_path("profile_m2")))
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.steps, args.features, args.top)))
        return 0
    results = {name: measure(cap, args) for name, cap in KERNELS.items()}
    d, a = (results[k]["ms_per_step"] for k in KERNELS)
    print(f"M1+M2 step ({args.features} features, batch 200 + 100 labelled, 1 thread): "
          f"default kernels ({results['default']['capability']}) {d:.1f} ms, "
          f"AVX2 {a:.1f} ms, default / AVX2 = {d / a:.2f}")
    for name, r in results.items():
        print(f"\n{name}: top ops by self CPU time")
        for op in r["top_ops"]:
            print(f"  {op['op']:<40}{op['ms_per_step']:>8.2f} ms{op['share']:>8.1%}")
    Path(args.out).write_text(json.dumps({"machine": machine(), "features": args.features,
                                          "steps": args.steps, **results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
