"""Speed: ppvae's training epoch vs. plain PyTorch and Pyro's vae.py style; log p(x) time.

    python -m benchmarks.speed [--rounds 3]

Variants run interleaved (A B C ... A B C ...) for several rounds on full MNIST
epochs (784-400-50 softplus VAE, Bernoulli likelihood). Prints median and min seconds
per epoch and ratios against the plain-PyTorch reference measured in the same run: of
the medians, and "paired", the median of the per-round ratios (robust to the machine's
drift). "pyro-bare" is the leanest Trace_ELBO program for the same network, the floor
for any code in which Pyro computes the bound. Also GEMM FLOP/s achieved next to what
``torch.mm`` reaches at the same shapes.
Then times the importance-sampled log p(x) with k=5000 on a slice of the test set and
extrapolates to all 10,000 images (said so in the output).
``--device cuda`` runs the same on a GPU (without the pyro-example row, whose per-item
DataLoader is a CPU design). Writes benchmarks/results/speed_MACHINE_DATE.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pyro
import torch

from benchmarks.baselines import (
    BarePyroVAE,
    PlainVAE,
    per_item_loader,
    plain_epoch,
    pyro_example_epoch,
    pyro_example_setup,
)
from benchmarks.common import fraction, guarded, machine, positive, results_path
from ppvae.config import load_config
from ppvae.data import load_data
from ppvae.distributed import resolve_device
from ppvae.objectives import elbo_objective
from ppvae.pair import build_pair, checked
from ppvae.train import make_optimizer, sgd_epoch

REPO = Path(__file__).resolve().parents[1]
X_DIM, HIDDEN, Z_DIM = 784, 400, 50


def sync(device: torch.device) -> None:
    """Wait for queued CUDA work (timings of CUDA code need it)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def paired_ratio(times: list[float], reference: list[float]) -> float:
    """Median over rounds of time / reference time in the same round (robust to drift)."""
    return statistics.median(t / r for t, r in zip(times, reference, strict=True))


def gemm_flops_per_example() -> int:
    """Multiply-adds x 2 of the Linear layers, forward + backward (no input grad for layer 1)."""
    layers = [(X_DIM, HIDDEN), (HIDDEN, Z_DIM), (HIDDEN, Z_DIM), (Z_DIM, HIDDEN), (HIDDEN, X_DIM)]
    fwd = sum(2 * a * b for a, b in layers)
    bwd_weight = fwd
    bwd_input = fwd - 2 * X_DIM * HIDDEN
    return fwd + bwd_weight + bwd_input


def mm_gflops(batch: int, repeats: int = 50) -> float:
    """GFLOP/s torch.mm reaches on this VAE's forward GEMM shapes at ``batch`` rows."""
    shapes = [(batch, X_DIM, HIDDEN), (batch, HIDDEN, 2 * Z_DIM), (batch, Z_DIM, HIDDEN),
              (batch, HIDDEN, X_DIM)]
    mats = [(torch.randn(m, k), torch.randn(k, n)) for m, k, n in shapes]
    flops = sum(2 * m * k * n for m, k, n in shapes)
    for a, b in mats:
        torch.mm(a, b)
    tic = time.perf_counter()
    for _ in range(repeats):
        for a, b in mats:
            torch.mm(a, b)
    return flops * repeats / (time.perf_counter() - tic) / 1e9


def ppvae_variant(x: torch.Tensor, elbo: str, batch: int) -> Callable[[], None]:
    cfg = load_config(REPO / "configs" / "mnist_z50.toml").replace(
        [f"train.elbo={elbo}", f"train.batch_size={batch}"])
    pair = checked(build_pair(cfg, load_spec()).to(x.device), x[:2])
    objective = elbo_objective(cfg, pair)
    optim = make_optimizer(pair.parameters(), cfg.train.lr)
    gen = torch.Generator().manual_seed(0)

    def run() -> None:
        with pyro.validation_enabled(False):
            sgd_epoch(pair, objective, optim, x, torch.randperm(len(x), generator=gen), batch)

    return run


def load_spec():
    from ppvae.data.base import DataSpec

    return DataSpec(x_dim=X_DIM, image_shape=(28, 28), num_classes=10)


def plain_variant(x: torch.Tensor, analytic_kl: bool, batch: int) -> Callable[[], None]:
    model = PlainVAE(Z_DIM, HIDDEN, analytic_kl=analytic_kl).to(x.device)
    optim = make_optimizer(list(model.parameters()), 1e-3)
    gen = torch.Generator().manual_seed(0)
    return lambda: plain_epoch(model, optim, x, batch, gen)


def bare_pyro_variant(x: torch.Tensor, batch: int) -> Callable[[], None]:
    model = BarePyroVAE(Z_DIM, HIDDEN).to(x.device)
    optim = make_optimizer(list(model.parameters()), 1e-3)
    gen = torch.Generator().manual_seed(0)

    def run() -> None:
        with pyro.validation_enabled(False):
            plain_epoch(model, optim, x, batch, gen)

    return run


def pyro_example_variant(x: torch.Tensor, batch: int) -> Callable[[], None]:
    _, svi = pyro_example_setup()
    loader = per_item_loader(x, batch, seed=0)
    return lambda: pyro_example_epoch(svi, loader)


def loglik_time(x: torch.Tensor, k: int) -> dict:
    """Seconds for the k-sample log p(x) of ``x`` with the z=50 pair."""
    from ppvae.loglik import log_likelihood

    cfg = load_config(REPO / "configs" / "mnist_z50.toml")
    pair = checked(build_pair(cfg, load_spec()).to(x.device), x[:2])
    log_likelihood(pair, x[:2], k=100)
    sync(x.device)
    tic = time.perf_counter()
    log_likelihood(pair, x, k=k)
    sync(x.device)
    sec = time.perf_counter() - tic
    return {"images": len(x), "k": k, "seconds": sec, "extrapolated_10k_s": sec * 10000 / len(x)}


def _variants(x: torch.Tensor, batches: list[int], pyro_example: bool
              ) -> dict[str, Callable[[], None]]:
    variants: dict[str, Callable[[], None]] = {}
    for b in batches:
        variants[f"plain mc-kl b{b}"] = plain_variant(x, False, b)
        variants[f"ppvae trace b{b}"] = ppvae_variant(x, "trace", b)
        variants[f"pyro-bare trace b{b}"] = bare_pyro_variant(x, b)
        variants[f"plain analytic-kl b{b}"] = plain_variant(x, True, b)
        variants[f"ppvae meanfield b{b}"] = ppvae_variant(x, "meanfield", b)
        if pyro_example:
            variants[f"pyro-example b{b}"] = pyro_example_variant(x, b)
    return variants


def _time_rounds(variants: dict[str, Callable[[], None]], rounds: int, scale: float,
                 device: torch.device) -> dict[str, list[float]]:
    """Seconds per epoch of each variant, the variants interleaved, a rotated order each
    round."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            tic = time.perf_counter()
            variants[name]()
            sync(device)
            times[name].append((time.perf_counter() - tic) * scale)
        print(f"round {r + 1}/{rounds} done", flush=True)
    return times


def _rows(times: dict[str, list[float]], batches: list[int], n_images: int) -> list[dict]:
    flops_epoch = gemm_flops_per_example() * n_images
    peak = {b: mm_gflops(b) for b in batches}
    rows = []
    for name in times:
        b = int(name.rsplit("b", 1)[1])
        med, mn = statistics.median(times[name]), min(times[name])
        ref = "plain analytic-kl" if "meanfield" in name or "analytic" in name else "plain mc-kl"
        ref_times = times[f"{ref} b{b}"]
        row = {"variant": name, "batch": b, "median_s": med, "min_s": mn,
               "ratio_to_plain": med / statistics.median(ref_times),
               "paired_ratio_to_plain": paired_ratio(times[name], ref_times),
               "reference": f"{ref} b{b}",
               "gemm_gflops": flops_epoch / med / 1e9, "mm_gflops": peak[b]}
        if f"pyro-example b{b}" in times:
            row["ratio_to_pyro_example"] = med / statistics.median(times[f"pyro-example b{b}"])
        rows.append(row)
    return rows


def _print_rows(rows: list[dict], times: dict[str, list[float]], batches: list[int]) -> None:
    head = f"{'variant':<26}{'median s':>9}{'min s':>8}{'x plain':>9}{'paired':>8}{'x pyro-ex':>10}"
    head += f"{'GFLOP/s':>9}{'mm GFLOP/s':>11}"
    print(head)
    for r in rows:
        pe = r.get("ratio_to_pyro_example")
        print(f"{r['variant']:<26}{r['median_s']:>9.2f}{r['min_s']:>8.2f}"
              f"{r['ratio_to_plain']:>9.2f}{r['paired_ratio_to_plain']:>8.2f}"
              f"{(f'{pe:.2f}' if pe else '-'):>10}"
              f"{r['gemm_gflops']:>9.1f}{r['mm_gflops']:>11.1f}")
    for b in batches:
        ours, bare = times[f"ppvae trace b{b}"], times[f"pyro-bare trace b{b}"]
        print(f"ppvae trace / pyro-bare trace, batch {b}, paired: {paired_ratio(ours, bare):.2f}")


def _loglik(x_test: torch.Tensor) -> dict:
    ll = loglik_time(x_test, 5000)
    print(f"log p(x), k=5000: {ll['seconds']:.1f} s for {ll['images']} test images -> "
          f"{ll['extrapolated_10k_s'] / 60:.1f} min for 10,000 (extrapolated, not measured)")
    return ll


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir")
    p.add_argument("--rounds", type=positive, default=3)
    p.add_argument("--batch", type=positive, action="append", help="batch sizes (default 128, 256)")
    p.add_argument("--fraction", type=fraction, default=1.0, help="time this fraction of an epoch")
    p.add_argument("--no-pyro-example", action="store_true")
    p.add_argument("--only-loglik", action="store_true", help="time only the log p(x)")
    p.add_argument("--ll-images", type=positive, default=40,
                   help="test images for the k=5000 timing")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (pyro-example: CPU only)")
    p.add_argument("--out", default=str(results_path("speed")))
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    data = load_data(load_config(REPO / "configs" / "mnist_z50.toml").data, args.data_dir)
    x_test = data.x_test[: args.ll_images].to(device)
    if args.only_loglik:
        _loglik(x_test)
        return 0
    x_full = data.x_train
    n = int(len(x_full) * args.fraction)
    x = x_full[:n].contiguous().to(device)
    batches = args.batch or [128, 256]
    variants = _variants(x, batches, not args.no_pyro_example and device.type == "cpu")
    if args.fraction <= 0.1:  # short timings: one untimed warm-up pass each
        for fn in variants.values():
            fn()
    times = _time_rounds(variants, args.rounds, len(x_full) / n, device)
    rows = _rows(times, batches, len(x_full))
    print(f"\nepoch = {len(x_full)} MNIST images; {args.rounds} rounds; fraction {args.fraction}; "
          f"torch {torch.__version__}, pyro {pyro.__version__}, threads {torch.get_num_threads()}, "
          f"ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', '(default)')}")
    _print_rows(rows, times, batches)
    ll = _loglik(x_test)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the benchmark process: {peak_mb:.0f} MB")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "rows": rows, "rounds": args.rounds, "fraction": args.fraction,
        "machine": machine(),
        "torch": torch.__version__, "pyro": pyro.__version__,
        "threads": torch.get_num_threads(), "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY"),
        "peak_rss_mb": peak_mb, "times": times, "loglik": ll,
    }, indent=2))
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
