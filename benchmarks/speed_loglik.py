"""Speed of the importance-sampled log p(x) of a trained run: ppvae's Bernoulli form vs Pyro's.

    python -m benchmarks.speed_loglik runs/mnist_vae_mf --n 10

Times ``ppvae.loglik.log_likelihood`` (k samples per image) on the first ``n`` test images,
interleaving two forms of the Bernoulli log-likelihood without autograd for several
rounds: ppvae's ``LogitBernoulli`` (softplus then one in-place ``addcmul``) and Pyro's
default ``Bernoulli.log_prob`` (binary cross-entropy with broadcasting copies). Prints
milliseconds per image (median and min), the ratio, the largest difference between the two
estimates, and the extrapolation (not a measurement) to 10,000 images.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import pyro.distributions as dist
import torch

from benchmarks.common import guarded, positive
from ppvae.api import load
from ppvae.likelihoods import LogitBernoulli
from ppvae.loglik import log_likelihood


@contextmanager
def pyro_bernoulli_form() -> Iterator[None]:
    """Make ``LogitBernoulli.log_prob`` Pyro's default form for the duration."""
    fast = LogitBernoulli.log_prob
    LogitBernoulli.log_prob = dist.Bernoulli.log_prob  # type: ignore[method-assign]
    try:
        yield
    finally:
        LogitBernoulli.log_prob = fast  # type: ignore[method-assign]


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a trained run folder with a Bernoulli decoder")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--n", type=positive, default=10, help="test images per timing")
    p.add_argument("--k", type=positive, default=5000)
    p.add_argument("--rounds", type=positive, default=3)
    p.add_argument("--threads", type=positive, default=2)
    args = p.parse_args(argv)
    run = load(args.run)
    torch.set_num_threads(args.threads)
    x = run.load_data(args.data_dir).x_test[: args.n]
    log_likelihood(run.pair, x[:1], k=args.k)  # warm-up
    times: dict[str, list[float]] = {"ppvae": [], "pyro": []}
    estimates: dict[str, torch.Tensor] = {}
    for _ in range(args.rounds):
        for name in times:
            torch.manual_seed(0)
            with pyro_bernoulli_form() if name == "pyro" else nullcontext():
                tic = time.perf_counter()
                estimates[name], _ = log_likelihood(run.pair, x, k=args.k)
                times[name].append((time.perf_counter() - tic) / len(x))
    print(f"log p(x), k={args.k}, {len(x)} test images of {args.run}, {args.threads} threads, "
          f"{args.rounds} interleaved rounds")
    for name, t in times.items():
        med = statistics.median(t)
        print(f"  {name:6s} median {med * 1e3:6.1f} ms/image  min {min(t) * 1e3:6.1f}  "
              f"-> 10,000 images ≈ {med * 1e4 / 60:.1f} min (extrapolated)")
    ratio = statistics.median(times["ppvae"]) / statistics.median(times["pyro"])
    diff = (estimates["ppvae"] - estimates["pyro"]).abs().max().item()
    print(f"  ppvae / pyro = {ratio:.2f}; largest difference between the estimates {diff:.2e} nats")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
