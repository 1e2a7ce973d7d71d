"""Data parallel on one machine: 2 processes x 1 thread against 1 process x 2 threads.

    python -m benchmarks.speed_ddp [--rounds 3] [--batch 256]

Trains the MNIST 784-400-50 VAE (configs/mnist_z50.toml) for one epoch over the first
``--n-train`` images, alternately as ``ppvae train`` in one process with 2 threads and as
``torchrun --nproc-per-node 2 -m ppvae train`` with 1 thread per process (gloo). Reads the
training seconds of the epoch (``metrics.jsonl``; start-up and evaluation left out) and
prints examples per second of each and their ratio: both use the two cores, so a ratio
above 1 says data parallelism uses them better than intra-op threads do.
Writes benchmarks/results/speed_ddp_MACHINE_DATE.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import guarded, machine, machine_tag, positive, results_path

REPO = Path(__file__).resolve().parents[1]


def epoch_seconds(nproc: int, threads: int, args: argparse.Namespace, out: Path) -> float:
    """Training seconds of one epoch, read from the run's metrics."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    train = ["-m", "ppvae", "train", "--config", str(REPO / "configs" / "mnist_z50.toml"),
             "--epochs", "1", "--batch-size", str(args.batch), "--device", "cpu",
             "--set", f"data.n_train={args.n_train}", "--set", "data.n_test=2000",
             "--out", str(out), "--no-progress"]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={nproc}", *train]
    else:
        cmd = [sys.executable, *train]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True, text=True)
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    return float(record["seconds"])


@guarded
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--rounds", type=positive, default=3)
    p.add_argument("--batch", type=positive, default=256)
    p.add_argument("--n-train", type=positive, default=20000)
    p.add_argument("--out", default=str(results_path("speed_ddp")))
    args = p.parse_args()
    variants = {"1 process x 2 threads": (1, 2), "2 processes x 1 thread": (2, 1)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, (nproc, threads) in variants.items():
                out = Path(tmp) / f"{nproc}-{r}"
                times[name].append(epoch_seconds(nproc, threads, args, out))
                print(f"round {r + 1}: {name}: {times[name][-1]:.2f} s", flush=True)
    ref, ddp = times["1 process x 2 threads"], times["2 processes x 1 thread"]
    paired = statistics.median(a / b for a, b in zip(ref, ddp, strict=True))
    print(f"\nMNIST VAE 784-400-50, batch {args.batch}, {args.n_train} images, "
          f"{args.rounds} rounds, {machine_tag()}")
    for name, ts in times.items():
        print(f"{name:>24}: median {statistics.median(ts):.2f} s/epoch, "
              f"{args.n_train / statistics.median(ts):,.0f} examples/s")
    print(f"throughput of 2 processes x 1 thread / 1 process x 2 threads: {paired:.2f} "
          "(paired median)")
    result = {"batch": args.batch, "n_train": args.n_train, "rounds": args.rounds,
              "seconds": times, "throughput_ratio_paired": paired}
    Path(args.out).write_text(json.dumps({"machine": machine(), **result}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
