"""Typed run configuration: TOML in, dataclasses out, unknown keys refused."""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ppvae.errors import ConfigError
from ppvae.registry import DATASETS, ELBOS, GUIDES, MODELS, Registry
from ppvae.typed import build, check_keys, check_seed, to_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Component:
    """A registered name plus its typed options."""

    name: str
    options: Any

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., **options}``."""
        opts = to_dict(self.options) if self.options is not None else {}
        return {"name": self.name, **opts}


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by every model/guide pair.

    ``validate_args`` keeps Pyro's distribution checks on in the training loop; they always
    run when the pair is checked on a first batch, and the loop always stops on a NaN loss.
    ``ema`` > 0 keeps an exponential moving average of the parameters with that decay per
    step (Polyak averaging); evaluation and the saved weights then use the average.
    ``device``: ``auto`` (a CUDA GPU when there is one), ``cpu``, ``cuda`` or ``cuda:N``; it
    does not change what a run is, so a run may resume on another device.
    ``batch_size`` is the global batch: data-parallel processes each take a share of it.
    ``threads``: CPU threads for training (0: torch's choice; give 1 to each of several runs
    or processes sharing a machine's cores). Like ``device``, not part of what a run is.
    ``tensorboard`` writes TensorBoard logs into the run folder (``RUN/tb``): every epoch's
    figures of ``metrics.jsonl``, and every ``image_every`` epochs (and the last) pictures:
    prior samples and test reconstructions, the 2-D manifold, or the toy's sample scatter.
    ``eval_every``: evaluate (test bound, validation and test error) every that many epochs
    and after the last; the epochs between record training numbers only, and model
    selection (``best.pt``) sees the evaluated epochs only. Evaluation draws random numbers,
    so runs with different values train differently.
    ``kl_warmup``: KL warm-up (Sønderby et al. 2016; 0: none): in epoch ``e`` the latent
    sites' terms, log p(z) - log q(z|x) (minus the KL with ``meanfield``), weigh
    ``min(1, e / kl_warmup)``, so the first ``kl_warmup - 1`` epochs weigh them less. For
    ``trace`` and ``meanfield``, reparameterized guides, without ``[semi]``; fixed for the
    life of a run. The test bound is always the full ELBO; a warm-up epoch records
    ``train_objective`` and ``kl_weight`` instead of ``train_elbo``.
    ``weight_prior``: the standard deviation s of a N(0, s²) prior on every parameter of the
    model and guide (0: none), trained as MAP: each step adds (rows / N) · θ / s² to the
    gradients, ``rows`` its batch and N the rows of the epoch's steps, so an epoch adds the
    prior once (as the weight priors of Kingma et al.'s code): Adam's coupled weight decay,
    ``1 / (N s²)`` per row of the step. It may change when a run resumes.
    ``clip_grad``: clip every gradient element to ± this times the step's rows, that is the
    gradient of the loss per row to ± this, before the optimizer steps (0: no clipping;
    PyTorch Lightning's ``gradient_clip_val`` with ``gradient_clip_algorithm="value"`` on a
    mean loss). With ``[semi]`` the step's rows are its unlabelled rows. The weight prior is
    added by the optimizer, after clipping, so it is never clipped. It may change when a run
    resumes.
    """

    elbo: str = "trace"
    num_particles: int = 1
    vectorize_particles: bool = True
    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    lr_schedule: Literal["constant", "burda", "burda_scaled"] = "constant"
    adam_eps: float = 1e-8
    eval_batch_size: int = 2000
    seed: int = 0
    validate_args: bool = False
    ema: float = 0.0
    device: str = "auto"
    tensorboard: bool = False
    image_every: int = 10
    threads: int = 0
    eval_every: int = 1
    kl_warmup: int = 0
    weight_prior: float = 0.0
    clip_grad: float = 0.0

    def validate(self) -> None:
        """Range checks."""
        d = self.device.strip().lower()
        if not (d in ("auto", "cpu", "cuda") or (d.startswith("cuda:") and d[5:].isdigit())):
            raise ConfigError(
                f"train.device must be auto, cpu, cuda or cuda:N; got {self.device!r}")
        for name in ("num_particles", "epochs", "batch_size", "eval_batch_size", "image_every",
                     "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1; got {getattr(self, name)}")
        check_seed("train.seed", self.seed)
        if self.threads < 0:
            raise ConfigError(f"train.threads must be >= 0 (0: torch's choice); got {self.threads}")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"train.ema must be in [0, 1) (0 = no averaging); got {self.ema}")
        self._check_reals()
        ELBOS.entry(self.elbo)
        self._check_warmup()

    def _check_reals(self) -> None:
        for name in ("lr", "adam_eps"):
            if not (math.isfinite(v := getattr(self, name)) and v > 0):
                raise ConfigError(f"train.{name} must be a finite number > 0; got {v}")
        for name in ("weight_prior", "clip_grad"):
            if not (math.isfinite(v := getattr(self, name)) and v >= 0):
                raise ConfigError(f"train.{name} must be a finite number >= 0 (0: none); got {v}")

    def _check_warmup(self) -> None:
        if self.kl_warmup < 0:
            raise ConfigError(f"train.kl_warmup must be >= 0 (0: none); got {self.kl_warmup}")
        if self.kl_warmup and self.elbo not in WARMUP_ELBOS:
            raise ConfigError(f"train.kl_warmup works with elbo {' or '.join(WARMUP_ELBOS)}; "
                              f"got {self.elbo!r}")


WARMUP_ELBOS = ("trace", "meanfield")  # the ELBOs whose latent terms KL warm-up weighs


@dataclass(frozen=True)
class SemiConfig:
    """Semi-supervised training: which labels are kept, and the classification term.

    ``labels`` examples (the same number per class, drawn by ``label_seed``) keep their
    labels; ``label_rng`` picks the generator of that draw: ``torch`` (the default) or
    ``numpy`` (numpy's shuffle of each class's indices after ``numpy.random.seed``, which
    reproduces the labelled sets of public PyTorch M1+M2 code); the last ``n_valid``
    training examples are held out for validation; the rest are unlabelled. Each step adds
    a batch of ``labelled_batch_size`` labelled examples;
    the classification term ``alpha * N / labels * -log q(y|x)`` (Kingma et al. 2014) is
    read from the guide's site ``label_site``. ``labelled_weight`` multiplies the labelled
    ELBO's share (1 = the whole-data bound; larger binds the decoder's ``y`` to the classes
    more strongly). ``labelled_draw``: how often the labelled inputs are redrawn when the
    data are random draws (dynamic binarization, features sampled from an encoder):
    ``epoch``, one draw per epoch shared by its steps; ``step``, a fresh draw at every step
    (as Kingma et al.'s code). Unlabelled rows get one draw per epoch either way; with
    fixed data (grey levels, ``data.sample = false``) the two are the same.
    """

    labels: int = 100
    label_seed: int = 0
    label_rng: Literal["torch", "numpy"] = "torch"
    n_valid: int = 10000
    alpha: float = 0.1
    labelled_batch_size: int = 100
    labelled_weight: float = 1.0
    label_site: str = "y"
    labelled_draw: Literal["epoch", "step"] = "epoch"

    def validate(self) -> None:
        if self.labels < 1 or self.labelled_batch_size < 1 or self.n_valid < 0:
            raise ConfigError("semi.labels and semi.labelled_batch_size must be >= 1, "
                              "semi.n_valid >= 0")
        if not (math.isfinite(self.alpha) and self.alpha >= 0):
            raise ConfigError(f"semi.alpha must be a finite number >= 0; got {self.alpha}")
        check_seed("semi.label_seed", self.label_seed)
        if not self.labelled_weight > 0:
            raise ConfigError(f"semi.labelled_weight must be > 0; got {self.labelled_weight}")


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to reproduce a training run."""

    name: str
    data: Component
    model: Component
    guide: Component
    train: TrainConfig = field(default_factory=TrainConfig)
    plugins: tuple[str, ...] = ()
    semi: SemiConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form (round-trips through :func:`from_dict`)."""
        out = {
            "name": self.name,
            "plugins": list(self.plugins),
            "data": self.data.to_dict(),
            "model": self.model.to_dict(),
            "guide": self.guide.to_dict(),
            "train": to_dict(self.train),
        }
        if self.semi is not None:
            out["semi"] = to_dict(self.semi)
        return out

    def replace(self, overrides: list[str]) -> RunConfig:
        """A copy with ``section.key=value`` overrides applied."""
        return from_dict(apply_overrides(self.to_dict(), overrides))


TOP_KEYS = ["name", "plugins", "data", "model", "guide", "train", "semi"]


def _component(reg: Registry[Any], raw: Any, where: str) -> Component:
    if not isinstance(raw, dict):
        raise ConfigError(f"[{where}] must be a table with at least a 'name' key")
    if "name" not in raw:
        raise ConfigError(f"[{where}] needs a 'name'; valid names: {', '.join(reg.names())}")
    values = dict(raw)
    name = values.pop("name")
    entry = reg.entry(name)
    if entry.config is None:
        check_keys(values, ["name"], where)
        return Component(name, None)
    return Component(name, build(entry.config, values, where))


def from_dict(raw: dict[str, Any], name: str | None = None, *,
              import_plugins: bool = True) -> RunConfig:
    """A :class:`RunConfig` from a parsed TOML/JSON dict; the plugins it names are imported
    first unless ``import_plugins`` is False (configs recorded in run folders)."""
    from ppvae.plugins import load_plugins

    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a table; got {type(raw).__name__}")
    check_keys(raw, TOP_KEYS, "top level")
    plugins = raw.get("plugins", [])
    if isinstance(plugins, str) or not isinstance(plugins, list):
        raise ConfigError(f"plugins must be a list of module names; got {plugins!r}")
    if import_plugins:
        load_plugins(plugins)
    for section in ("data", "model", "guide"):
        if section not in raw:
            raise ConfigError(f"config needs a [{section}] table")
    train = raw.get("train", {})
    if not isinstance(train, dict):
        raise ConfigError("[train] must be a table")
    run_name = raw.get("name", name or "run")
    if not isinstance(run_name, str):
        raise ConfigError(f"name must be a string; got {run_name!r}")
    cfg = RunConfig(
        name=run_name,
        data=_component(DATASETS, raw["data"], "data"),
        model=_component(MODELS, raw["model"], "model"),
        guide=_component(GUIDES, raw["guide"], "guide"),
        train=build(TrainConfig, train, "train"),
        plugins=tuple(plugins),
        semi=_semi(raw.get("semi")),
    )
    if cfg.semi is not None and cfg.train.kl_warmup:
        raise ConfigError("train.kl_warmup is not available with [semi]")
    return cfg


def _semi(raw: Any) -> SemiConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError("[semi] must be a table")
    return build(SemiConfig, raw, "semi")


def parse_value(text: str) -> Any:
    """A TOML literal (number, bool, list, quoted string) or else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` strings to a copy of ``raw``."""
    out = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form section.key=value")
        parts = key.strip().split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a table")
        node[parts[-1]] = parse_value(text.strip())
    return out


def load_config(path: str | os.PathLike[str], overrides: list[str] | None = None) -> RunConfig:
    """Read a TOML config file and apply overrides."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (TOML files are): {exc}") from None
    raw.setdefault("name", path.stem)
    return from_dict(apply_overrides(raw, overrides or []))


def with_train(cfg: RunConfig, **changes: Any) -> RunConfig:
    """A copy with some train fields changed."""
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **changes))
