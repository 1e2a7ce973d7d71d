"""What TensorBoard logging costs per epoch of the MNIST VAE.

    python -m benchmarks.speed_tensorboard [--repeats 5]

Trains one epoch of configs/mnist_z50.toml (60,000 images) for the epoch's time, then times
the TensorBoard hook of the epoch loop on that run: an epoch with scalars only, and an epoch
with pictures (prior samples and test reconstructions). The cost per epoch is the scalar
epoch's plus the picture epoch's extra divided by ``train.image_every`` (default 10).
Writes benchmarks/results/speed_tensorboard_MACHINE_DATE.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import guarded, machine, machine_tag, positive, results_path
from ppvae import fit
from ppvae.config import load_config
from ppvae.data import load_data
from ppvae.tensorboard import TensorBoardHooks
from ppvae.train import RunStart

REPO = Path(__file__).resolve().parents[1]


@guarded
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--repeats", type=positive, default=5)
    p.add_argument("--out", default=str(results_path("speed_tensorboard")))
    args = p.parse_args()
    cfg = load_config(REPO / "configs" / "mnist_z50.toml", ["train.epochs=1",
                                                             "train.device=cpu"])
    data = load_data(cfg.data, args.data_dir)
    every = cfg.train.image_every
    with tempfile.TemporaryDirectory() as tmp:
        run = fit(cfg, out=Path(tmp) / "run", data=data)
        record = run.metrics[-1]
        epoch_s = record["seconds"]
        hooks = TensorBoardHooks()
        hooks.run_start(RunStart(Path(tmp) / "run", cfg, data, run.pair, 1))
        scalars, pictures = [], []
        for r in range(args.repeats):
            for epoch, into in ((every * r + 1, scalars), (every * (r + 1), pictures)):
                tic = time.perf_counter()
                hooks.epoch_end({**record, "epoch": epoch})
                into.append(time.perf_counter() - tic)
        hooks.run_end(run.metrics, completed=False)
    s, pic = statistics.median(scalars), statistics.median(pictures)
    per_epoch = s + (pic - s) / every
    print(f"MNIST z=50 epoch (training part): {epoch_s:.2f} s on {torch.get_num_threads()} "
          f"threads, {machine_tag()}")
    print(f"TensorBoard hook: scalars {s * 1e3:.1f} ms, with pictures {pic * 1e3:.0f} ms")
    print(f"per epoch with image_every = {every}: {per_epoch * 1e3:.1f} ms = "
          f"{100 * per_epoch / epoch_s:.2f} % of the epoch")
    Path(args.out).write_text(json.dumps({
        "machine": machine(),
        "epoch_s": epoch_s, "scalars_s": scalars, "pictures_s": pictures,
        "image_every": every, "per_epoch_fraction": per_epoch / epoch_s}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
