"""How a model/guide reads its torch submodules, and what each way costs per SVI step.

    python -m benchmarks.speed_modules [--rounds 5] [--batch 128]

The MNIST z = 50 VAE (configs/mnist_z50.toml), `trace` ELBO, one epoch over the first
``--n-train`` images per variant, interleaved for several rounds:

* **plain** — ``ppvae.nets.plain(self, name)``: the submodule straight from the module
  table, so ``PyroModule.__getattr__`` issues no ``pyro.module`` statement;
* **attribute** — ``self.name``: Pyro's default, a ``pyro.module`` statement (one param
  message per parameter) each time a plain submodule is read during a call;
* **local params** — ``self.name`` with ``pyro.settings.set(module_local_params=True)``,
  where Pyro still issues one param message per parameter but keeps no global store.

Prints median seconds per epoch and the paired ratio to **plain**; writes
benchmarks/results/speed_modules_MACHINE_DATE.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyro
import torch

from benchmarks.common import guarded, machine, positive, results_path
from benchmarks.speed import paired_ratio
from ppvae import nets
from ppvae.config import load_config
from ppvae.data import load_data
from ppvae.data.base import DataSpec
from ppvae.objectives import elbo_objective
from ppvae.pair import build_pair, checked
from ppvae.train import make_optimizer, sgd_epoch

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def access(how: str) -> Iterator[None]:
    """Run the model and guide with submodules read the ``how`` way."""
    real = nets.plain
    local = pyro.settings.get("module_local_params")
    if how != "plain":
        # models and guides call ``plain`` through its module: patch it there
        import ppvae.guides.m2
        import ppvae.guides.normal
        import ppvae.models.m2
        import ppvae.models.vae
        modules = (ppvae.models.vae, ppvae.models.m2, ppvae.guides.normal, ppvae.guides.m2)
        for mod in modules:
            mod.plain = getattr  # type: ignore[attr-defined]
        pyro.settings.set(module_local_params=how == "local params")
    try:
        yield
    finally:
        if how != "plain":
            for mod in modules:
                mod.plain = real  # type: ignore[attr-defined]
        pyro.settings.set(module_local_params=local)


def variant(x: torch.Tensor, batch: int, how: str) -> Callable[[], None]:
    cfg = load_config(REPO / "configs" / "mnist_z50.toml").replace(
        ["train.elbo=trace", f"train.batch_size={batch}"])
    with access(how):
        pair = checked(build_pair(cfg, DataSpec(x_dim=x.shape[1], image_shape=(28, 28))), x[:2])
    objective = elbo_objective(cfg, pair)
    optim = make_optimizer(pair.parameters(), cfg.train.lr)
    gen = torch.Generator().manual_seed(0)

    def run() -> None:
        pyro.clear_param_store()
        with access(how), pyro.validation_enabled(False):
            sgd_epoch(pair, objective, optim, x, torch.randperm(len(x), generator=gen), batch)

    return run


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir")
    p.add_argument("--rounds", type=positive, default=5)
    p.add_argument("--batch", type=positive, default=128)
    p.add_argument("--n-train", type=positive, default=20000)
    p.add_argument("--out", default=str(results_path("speed_modules")))
    args = p.parse_args(argv)
    cfg = load_config(REPO / "configs" / "mnist_z50.toml")
    x = load_data(cfg.data, args.data_dir).x_train[: args.n_train].contiguous()
    hows = ["plain", "attribute", "local params"]
    runs = {h: variant(x, args.batch, h) for h in hows}
    times: dict[str, list[float]] = {h: [] for h in hows}
    for r in range(args.rounds):
        for h in hows[r % 3:] + hows[: r % 3]:
            tic = time.perf_counter()
            runs[h]()
            times[h].append(time.perf_counter() - tic)
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    steps = -(-len(x) // args.batch)
    print(f"\n{len(x)} images, batch {args.batch} ({steps} steps), {args.rounds} rounds, "
          f"{torch.get_num_threads()} threads")
    print(f"{'submodules read by':<20}{'median s':>10}{'ms / step':>11}{'x plain, paired':>17}")
    for h in hows:
        med = statistics.median(times[h])
        print(f"{h:<20}{med:>10.3f}{med / steps * 1e3:>11.2f}"
              f"{paired_ratio(times[h], times['plain']):>17.3f}")
    Path(args.out).write_text(json.dumps({
        "machine": machine(), "batch": args.batch, "n_train": len(x), "rounds": args.rounds,
        "threads": torch.get_num_threads(), "seconds": times,
        "paired_ratio_to_plain": {h: paired_ratio(times[h], times["plain"]) for h in hows},
    }, indent=2) + "\n")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
