"""tqdm progress bars for the CLI (the library itself stays silent)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

from ppvae.train import SilentHooks


class TqdmHooks(SilentHooks):
    """A bar per epoch with the running loss, and a summary line after each epoch."""

    def __init__(self, enabled: bool | None = None, header: str = "") -> None:
        self.disable = None if enabled is None else not enabled
        self.header = header
        self.bar: tqdm | None = None
        self.epochs = 0
        self.running = 0.0
        self.count = 0

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self.epochs, self.running, self.count, self.steps = epochs, 0.0, 0, steps
        if self.header:  # printed once training really starts
            print(self.header, flush=True)
            self.header = ""
        self.bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", file=sys.stderr,
                        leave=False, disable=self.disable, dynamic_ncols=True)

    def step(self, loss_per_example: float) -> None:
        self.running += loss_per_example
        self.count += 1
        if self.bar is not None:
            self.bar.update(1)
            if self.count % 10 == 0 or self.count == self.steps:
                self.bar.set_postfix(loss=f"{self.running / self.count:.2f}")

    def epoch_end(self, record: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.close()
        extra = "".join(
            f"  {k} {v:.4g}" for k, v in record.items()
            if k not in ("epoch", "train_elbo", "test_elbo", "seconds") and isinstance(v, float)
        )
        train = f"  train ELBO {record['train_elbo']:.3f}" if "train_elbo" in record else ""
        test = f"  test ELBO {record['test_elbo']:.3f}" if "test_elbo" in record else ""
        print(
            f"epoch {record['epoch']}/{self.epochs}{train}"
            f"{test}  ({record['seconds']:.1f} s){extra}",
            flush=True,
        )


def counter(total: int, desc: str, enabled: bool | None = None) -> tqdm:
    """A plain counting bar on stderr."""
    return tqdm(total=total, desc=desc, file=sys.stderr,
                disable=None if enabled is None else not enabled, dynamic_ncols=True)
