"""Plot test ELBO (or, ``--metric``, validation / test error) per epoch of ppvae runs next to
the Pyro-example-style baseline.

    python -m benchmarks.plot_curves --run meanfield=runs/mnist_z50 --out docs/curve.png \
        [--run trace=runs/mnist_z50_trace] [--baseline benchmarks/results/quality_*.json]

``--sslvae-log LABEL=LOG`` adds the validation and test error of a log.txt written by
jonemeth/generative-models' ``ssl-vae/train_sslvae.py`` (its ``val_accuracy`` lines).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from benchmarks.common import guarded, positive
from ppvae.plots import save, subplots

SSLVAE_LINE = re.compile(r"epoch: (\d+)/\d+, val_accuracy:\s*([\d.]+), test_accuracy:\s*([\d.]+)")


def sslvae_errors(text: str) -> list[dict[str, float]]:
    """Rows of epoch, valid_error and test_error (fractions) from a train_sslvae.py log."""
    return [{"epoch": int(m[1]), "valid_error": 1 - float(m[2]), "test_error": 1 - float(m[3])}
            for m in SSLVAE_LINE.finditer(text)]


LABELS = {
    "test_elbo": "test bound (nats per image)",
    "valid_error": "validation error (%)",
    "test_error": "test error (%)",
}


def _curves(p: argparse.ArgumentParser, args: argparse.Namespace, metrics: list[str],
            steps: list[int]) -> list[tuple[str, list[dict[str, float]], int]]:
    """(label, metric rows, steps per epoch) of every --run and --sslvae-log."""
    curves: list[tuple[str, list[dict[str, float]], int]] = []
    for k, item in enumerate(args.run):
        label, _, run = item.rpartition("=")
        if not (Path(run) / "metrics.jsonl").is_file():
            p.error(f"{run} holds no metrics.jsonl (not a ppvae run folder)")
        rows = [json.loads(s) for s in (Path(run) / "metrics.jsonl").read_text().splitlines()]
        curves.append((f"ppvae {label}", rows, steps[k if len(steps) > 1 else 0]))
    for item in args.sslvae_log:
        label, _, log = item.rpartition("=")
        if not label:
            p.error(f"--sslvae-log takes LABEL=LOG; got {item!r}")
        if "test_elbo" in metrics:
            p.error("--sslvae-log has errors only: give --metric valid_error / test_error")
        try:
            rows = sslvae_errors(Path(log).read_text(errors="replace"))
        except OSError as exc:
            p.error(f"--sslvae-log: cannot read {log} ({exc.strerror})")
        if not rows:
            p.error(f"{log} holds no 'epoch: N/M, val_accuracy: ..., test_accuracy: ...' lines")
        curves.append((label, rows, steps[0]))
    return curves


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run", action="append", default=[], metavar="LABEL=RUN_DIR")
    p.add_argument("--baseline", help="quality.json from benchmarks.quality")
    p.add_argument("--out", required=True)
    p.add_argument("--ref", action="append", type=float, default=None,
                   help="horizontal reference lines (default -113 and -105)")
    p.add_argument("--no-ref", action="store_true", help="no reference lines")
    p.add_argument("--ylim", nargs=2, type=float, default=(-130.0, -100.0))
    p.add_argument("--logx", action="store_true", help="epochs on a log scale")
    p.add_argument("--metric", choices=sorted(LABELS), action="append",
                   help="what to plot per epoch (errors in percent; repeatable; default "
                        "test_elbo)")
    p.add_argument("--steps-per-epoch", type=positive, action="append",
                   help="put SGD steps on the x axis (epochs times this); once for every run, "
                        "or once per --run, in their order")
    p.add_argument("--sslvae-log", action="append", default=[], metavar="LABEL=LOG",
                   help="errors from a jonemeth/generative-models train_sslvae.py log.txt, "
                        "at the first --steps-per-epoch")
    p.add_argument("--max-epoch", type=positive, default=None,
                   help="draw every run to this epoch only (runs of unequal length)")
    p.add_argument("--title",
                   default="MNIST z=50, 784-400-50 softplus, batch 256, Adam 1e-3, seed 0")
    args = p.parse_args(argv)
    fig, ax = subplots((6.5, 4.2))
    metrics = args.metric or ["test_elbo"]
    steps = args.steps_per_epoch or [1]
    if len(steps) not in (1, len(args.run)):
        p.error(f"give --steps-per-epoch once, or once per --run ({len(args.run)}); "
                f"got {steps}")
    styles = ["o-", "s--", "^:", "d-."]
    curves = _curves(p, args, metrics, steps)
    for label, rows, per in curves:
        for i, metric in enumerate(metrics):
            scale = 100.0 if metric.endswith("_error") else 1.0
            got = [r for r in rows if metric in r  # epochs without evaluation have none
                   and (args.max_epoch is None or r["epoch"] <= args.max_epoch)]
            name = label + (f", {LABELS[metric].split(' (')[0]}" if len(metrics) > 1 else "")
            ax.plot([r["epoch"] * per for r in got], [scale * r[metric] for r in got],
                    styles[i % len(styles)], ms=3, label=name)
    if args.baseline:
        rows = json.loads(Path(args.baseline).read_text())["pyro_example"]
        ax.plot([r["epoch"] for r in rows], [r["test_elbo"] for r in rows], "s--", ms=3,
                label="Pyro vae.py style (Trace_ELBO)")
    refs = [] if args.no_ref else args.ref if args.ref is not None else [-113.0, -105.0]
    for y in refs:
        ax.axhline(y, color="grey", lw=0.6, ls=":")
        ax.text(steps[0], y + 0.3, f"{y:g}", color="grey", fontsize=8)
    ax.set_ylim(*args.ylim)
    if args.logx:
        ax.set_xscale("log")
    ax.set_xlabel("SGD steps" if args.steps_per_epoch else "epoch")
    ax.set_ylabel(LABELS[metrics[0]] if len(metrics) == 1 else "error (%)")
    ax.set_title(args.title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    print(f"saved {save(fig, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
