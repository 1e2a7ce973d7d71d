"""M2 in plain PyTorch, as jonemeth/generative-models' ``ssl-vae/models/sslvae.py`` writes it,
on the data and labelled images of a ppvae semi-supervised run.

    python -m benchmarks.m2_plain RUN --out DIR [--epochs 3000] [--resume] [--threads 1]

A reference for the Pyro M2: the same inputs (RUN's features, its label draw and validation
rows), the other implementation's networks, loss and optimizer. Networks: softplus MLPs with
one hidden layer of ``--hidden`` units; q(z|x, y) and p(x|y, z) output a mean and a
log-variance (std = exp(logvar / 2), unbounded), q(y|x) logits; PyTorch's default
initialization. Each step takes ``semi.labelled_batch_size`` labelled rows and
``train.batch_size`` unlabelled rows; the loss is the number of steps per epoch times
``-(labelled ELBO + w * log q(y|x) + unlabelled ELBO)`` summed over the batch, divided by
the number of training rows N, with w = alpha * N / N_labelled and the KL in closed form;
Adam at ``train.lr`` with weight decay 1 / N. Every training row gets a fresh feature draw
each epoch. Validation and test error of q(y|x) (on the features' means) every
``--eval-every`` epochs go to ``DIR/metrics.jsonl`` as in a ppvae run folder; a checkpoint
is written every epoch, so ``--resume`` continues a stopped run exactly. Runs with settings
the plain M2 lacks (dynamically binarized inputs, ``semi.labelled_weight`` other than 1,
``semi.labelled_draw = "step"``) are refused.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from benchmarks.common import machine, positive, seed_value, semi_run
from ppvae.errors import PPVAEError

LOG_2PI = math.log(2 * math.pi)


class _MLP(nn.Module):
    """``n_in`` -> ``hidden`` (softplus) -> ``heads`` linear outputs of ``n_out``, on the
    concatenation of its inputs."""

    def __init__(self, n_in: int, hidden: int, n_out: int, heads: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, hidden), nn.Softplus())
        self.heads = nn.ModuleList(nn.Linear(hidden, n_out) for _ in range(heads))

    def forward(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        h = self.body(torch.cat(inputs, 1))
        return [head(h) for head in self.heads]


def _log_normal(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * ((x - mu) ** 2 / logvar.exp() + logvar + LOG_2PI)


class PlainM2(nn.Module):
    """q(y|x) classifier, q(z|x, y) encoder and p(x|y, z) decoder, plain modules."""

    def __init__(self, x_dim: int, num_classes: int, z_dim: int = 50, hidden: int = 500) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.encoder = _MLP(x_dim + num_classes, hidden, z_dim, 2)
        self.decoder = _MLP(z_dim + num_classes, hidden, x_dim, 2)
        self.classifier = _MLP(x_dim, hidden, num_classes, 1)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of q(y|x)."""
        return self.classifier(x)[0]

    def elbo_given_y(self, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator | None
                     ) -> torch.Tensor:
        """log p(x|y, z) - KL(q(z|x, y) || N(0, I)) + log p(y), one z per row."""
        onehot = F.one_hot(y, self.num_classes).to(x.dtype)
        z_mu, z_logvar = self.encoder(x, onehot)
        eps = torch.randn(z_mu.shape, generator=gen, dtype=x.dtype, device=x.device)
        z = z_mu + eps * (0.5 * z_logvar).exp()
        x_mu, x_logvar = self.decoder(z, onehot)
        kl = 0.5 * (z_mu ** 2 + z_logvar.exp() - 1 - z_logvar).sum(1)
        return _log_normal(x, x_mu, x_logvar).sum(1) - kl - math.log(self.num_classes)

    def loss(self, x_l: torch.Tensor, y_l: torch.Tensor, x_u: torch.Tensor, weight: float,
             per_row: float, gen: torch.Generator | None = None) -> torch.Tensor:
        """``-per_row * (labelled ELBO + weight * log q(y|x) + unlabelled ELBO)``, summed."""
        c = self.num_classes
        probs = F.softmax(self.classify(x_u), 1)
        x_all = torch.cat([x_l, x_u.repeat_interleave(c, 0)])
        y_all = torch.cat([y_l, torch.arange(c, device=x_u.device).repeat(x_u.shape[0])])
        elbo = self.elbo_given_y(x_all, y_all, gen)
        n_l = x_l.shape[0]
        log_qy = F.log_softmax(self.classify(x_l), 1).gather(1, y_l[:, None]).sum()
        entropy = -(probs * (probs + 1e-8).log()).sum()
        unlabelled = (elbo[n_l:] * probs.flatten()).sum() + entropy
        return -per_row * (elbo[:n_l].sum() + weight * log_qy + unlabelled)


@dataclass
class Inputs:
    """What one epoch trains on and evaluates with."""

    x_l: torch.Tensor
    y_l: torch.Tensor
    x_u: torch.Tensor
    sd_l: torch.Tensor | None
    sd_u: torch.Tensor | None
    valid: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]


def _draw(x: torch.Tensor, sd: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
    return x if sd is None else x + sd * torch.randn(x.shape, generator=gen)


def train_epoch(model: PlainM2, optim: torch.optim.Optimizer, data: Inputs, batch_l: int,
                batch_u: int, weight: float, gen: torch.Generator) -> float:
    """One pass over the unlabelled rows (the labelled ones cycled alongside); the mean loss
    per step. Steps: the unlabelled rows // ``batch_u`` (a short last batch is dropped)."""
    steps = data.x_u.shape[0] // batch_u
    if steps < 1:
        raise PPVAEError(f"{data.x_u.shape[0]} unlabelled rows make no batch of {batch_u}")
    n_total = data.x_u.shape[0] + data.x_l.shape[0]
    per_row = steps / n_total
    x_u = _draw(data.x_u, data.sd_u, gen)
    x_l = _draw(data.x_l, data.sd_l, gen)
    order_u = torch.randperm(x_u.shape[0], generator=gen)
    n_l = x_l.shape[0]
    order_l = torch.cat([torch.randperm(n_l, generator=gen)
                         for _ in range(math.ceil(steps * batch_l / n_l))])
    total = 0.0
    for s in range(steps):
        u = order_u[s * batch_u:(s + 1) * batch_u]
        lab = order_l[s * batch_l:(s + 1) * batch_l]
        optim.zero_grad(set_to_none=True)
        loss = model.loss(x_l[lab], data.y_l[lab], x_u[u], weight, per_row, gen)
        loss.backward()
        optim.step()
        total += float(loss.detach())
    return total / steps


@torch.no_grad()
def error(model: PlainM2, x: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of rows whose most probable q(y|x) class is wrong."""
    return float((model.classify(x).argmax(1) != y).double().mean())


def load_inputs(run_dir: str, data_dir: str | None) -> tuple[Inputs, dict[str, float]]:
    """A semi-supervised run's labelled, unlabelled, validation and test rows, and its
    ``alpha``, ``lr``, batch sizes and number of classes."""
    from ppvae.semi import split_for

    run, semi, data, classes = semi_run(run_dir, data_dir)
    data = data.to("cpu")
    if data.y_train is None or data.y_test is None:
        raise PPVAEError(f"{run_dir}'s data have no labels")
    unlike = [name for name, differs in (
        ("dynamically binarized inputs", data.dynamic_binarize),
        ("semi.labelled_weight != 1", semi.labelled_weight != 1),
        ("semi.labelled_draw = 'step'", semi.labelled_draw != "epoch")) if differs]
    if unlike:
        raise PPVAEError(f"{run_dir} has {', '.join(unlike)}: the plain M2 has no such setting")
    split = split_for(semi, data.y_train, classes, data.held_out)
    if split.unlabelled.numel() < run.config.train.batch_size:
        raise PPVAEError(f"train.batch_size = {run.config.train.batch_size} is more than the "
                         f"{split.unlabelled.numel()} unlabelled rows: no full step")
    sd = data.train_noise

    def pick(rows: torch.Tensor) -> torch.Tensor | None:
        return None if sd is None else sd[rows]

    inputs = Inputs(
        x_l=data.x_train[split.labelled], y_l=data.y_train[split.labelled],
        x_u=data.x_train[split.unlabelled], sd_l=pick(split.labelled), sd_u=pick(split.unlabelled),
        valid=(data.x_train[split.valid], data.y_train[split.valid]),
        test=(data.x_test, data.y_test))
    t = run.config.train
    return inputs, {"alpha": semi.alpha, "lr": t.lr, "batch_u": t.batch_size,
                    "batch_l": min(semi.labelled_batch_size, int(split.labelled.numel())),
                    "classes": classes}


def _save(path: Path, state: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _resume_check(out: Path, asked: dict[str, object]) -> None:
    """Refuse to continue ``out`` with another source run, seed or width than it began with."""
    try:
        began = json.loads((out / "run.json").read_text())
    except (OSError, ValueError) as exc:
        raise PPVAEError(f"--resume: {out / 'run.json'} unreadable ({exc})") from None
    differs = [f"{k} {began.get(k)!r} -> {v!r}" for k, v in asked.items() if began.get(k) != v]
    if differs:
        raise PPVAEError(f"--resume: {out} began with other settings ({'; '.join(differs)})")


def _metrics_upto(path: Path, epoch: int) -> None:
    """Drop the rows after ``epoch`` (written before a checkpoint that was never made)."""
    if path.is_file():
        rows = [r for r in path.read_text().splitlines() if json.loads(r)["epoch"] <= epoch]
        path.write_text("".join(r + "\n" for r in rows))


def fit(run_dir: str, out: Path, epochs: int, resume: bool, eval_every: int, hidden: int,
        seed: int, data_dir: str | None) -> None:
    """Train (or, ``resume``, continue) the plain M2 on ``run_dir``'s inputs into ``out``."""
    asked: dict[str, object] = {"source_run": str(run_dir), "seed": seed, "hidden": hidden}
    ckpt = out / "checkpoint.pt"
    if resume:
        if not ckpt.is_file():
            raise PPVAEError(f"--resume: {ckpt} not found")
        _resume_check(out, asked)
    elif ckpt.exists():
        raise PPVAEError(f"{out} already holds a run; --resume continues it")
    data, cfg = load_inputs(run_dir, data_dir)
    n_total = data.x_u.shape[0] + data.x_l.shape[0]
    weight = cfg["alpha"] * n_total / data.x_l.shape[0]
    torch.manual_seed(seed)
    model = PlainM2(data.x_u.shape[1], int(cfg["classes"]), hidden=hidden)
    optim = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=1 / n_total)
    gen = torch.Generator().manual_seed(seed + 1)
    start = 1
    if resume:
        state = torch.load(ckpt, weights_only=True)
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        gen.set_state(state["gen"])
        start = int(state["epoch"]) + 1
        _metrics_upto(out / "metrics.jsonl", start - 1)
    else:
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(json.dumps({**asked, **cfg, "machine": machine()},
                                                 indent=1))
    for epoch in range(start, epochs + 1):
        tic = time.perf_counter()
        loss = train_epoch(model, optim, data, int(cfg["batch_l"]), int(cfg["batch_u"]),
                           weight, gen)
        if not math.isfinite(loss):
            raise PPVAEError(f"the loss is {loss} at epoch {epoch}")
        row: dict[str, float] = {"epoch": epoch, "loss": loss,
                                 "seconds": time.perf_counter() - tic}
        if epoch % eval_every == 0 or epoch == epochs:
            if data.valid[1].numel():
                row["valid_error"] = error(model, *data.valid)
            row["test_error"] = error(model, *data.test)
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        _save(ckpt, {"model": model.state_dict(), "optim": optim.state_dict(),
                     "gen": gen.get_state(), "epoch": epoch})
        print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in row.items()), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a ppvae semi-supervised run folder (its data and labels)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--epochs", type=positive, default=3000)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--eval-every", type=positive, default=5)
    p.add_argument("--hidden", type=positive, default=500)
    p.add_argument("--seed", type=seed_value, default=0)
    p.add_argument("--threads", type=positive, default=None)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        fit(args.run, args.out, args.epochs, args.resume, args.eval_every, args.hidden,
            args.seed, args.data_dir)
    except PPVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
