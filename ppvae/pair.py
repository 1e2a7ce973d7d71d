"""Build a registered model/guide pair and check that the guide fits the model."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

import torch
from pyro import poutine
from pyro.distributions import TorchDistribution
from pyro.nn import PyroModule
from pyro.poutine.util import site_is_subsample

from ppvae.config import RunConfig
from ppvae.data.base import DataSpec
from ppvae.errors import IncompatiblePairError
from ppvae.registry import GUIDES, MODELS

if TYPE_CHECKING:
    from pyro.poutine.runtime import Message

OBS_SITE = "x"


@dataclass
class Pair:
    """A model and its guide, plus the plate nesting the model uses."""

    model: PyroModule
    guide: PyroModule
    max_plate_nesting: int = 1
    enumerated: tuple[str, ...] = ()  # guide sites marked for enumeration
    not_reparameterized: tuple[str, ...] = ()  # other guide sites without rsample

    def parameters(self) -> list[torch.nn.Parameter]:
        """All trainable parameters of model and guide, each once."""
        seen: dict[int, torch.nn.Parameter] = {}
        for p in [*self.model.parameters(), *self.guide.parameters()]:
            seen.setdefault(id(p), p)
        return list(seen.values())

    def train(self, mode: bool = True) -> Pair:
        self.model.train(mode)
        self.guide.train(mode)
        return self

    def to(self, device: torch.device | str) -> Pair:
        """Move model and guide to ``device`` (in place)."""
        self.model.to(device)
        self.guide.to(device)
        return self

    @property
    def device(self) -> torch.device:
        """Where the parameters are (the CPU for a pair without parameters)."""
        for p in self.parameters():
            return p.device
        return torch.device("cpu")


def build_pair(cfg: RunConfig, spec: DataSpec) -> Pair:
    """Instantiate the model and guide a config names."""
    model = MODELS.get(cfg.model.name)(cfg.model.options, spec)
    guide = GUIDES.get(cfg.guide.name)(cfg.guide.options, spec)
    return Pair(model, guide)


def init_from_data(pair: Pair, x_train: torch.Tensor) -> Pair:
    """Finish a fresh pair's initialization: each of model and guide that defines
    ``init_from_data(x_train)`` sets its data-dependent starting values."""
    for module in (pair.model, pair.guide):
        hook = getattr(module, "init_from_data", None)
        if callable(hook):
            hook(x_train)
    return pair


def sample_sites(trace: poutine.Trace) -> dict[str, Any]:
    """The sample sites of a trace, plates left out."""
    return {
        n: s for n, s in trace.nodes.items() if s["type"] == "sample" and not site_is_subsample(s)
    }


def site_dist(site: Message[Any, Any]) -> TorchDistribution:
    """The distribution of a sample site (Pyro types a site's ``fn`` as any callable)."""
    return cast(TorchDistribution, site["fn"])


def site_value(site: Message[Any, Any]) -> torch.Tensor:
    """The value of a sample site (Pyro types it optional: other messages may have none)."""
    return cast(torch.Tensor, site["value"])


def _shapes(site: dict) -> tuple[tuple[int, ...], tuple[int, ...]]:
    fn = site["fn"]
    return tuple(fn.batch_shape), tuple(fn.event_shape)


CHECK_BATCHES = (7, 11, 13, 17)  # primes: a check batch that equals no other dimension


def check_batch(x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor,
                                                                   torch.Tensor | None]:
    """Rows of ``x`` (and ``y``), repeated as needed, in a number that is none of the data's
    dimensions, so that a shape bug cannot hide behind a coincidence."""
    size = next(p for p in CHECK_BATCHES if p not in x.shape[1:])
    idx = torch.arange(size, device=x.device) % x.shape[0]
    return x[idx], (y[idx] if y is not None else None)


def _trace(fn: PyroModule, who: str, x: torch.Tensor, y: torch.Tensor | None) -> poutine.Trace:
    try:
        with torch.no_grad():
            return poutine.trace(fn).get_trace(x, y)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = " (a missing .to_event(1)?)" if "Shape mismatch" in first else ""
        raise IncompatiblePairError(
            f"the {who} failed on a batch of shape {tuple(x.shape)}: {first}{hint}"
        ) from exc


@dataclass(frozen=True)
class PairInfo:
    """What tracing a pair tells: the model's plate nesting, the guide's enumerated sites and
    its other sites without ``rsample``."""

    max_plate_nesting: int
    enumerated: tuple[str, ...]
    not_reparameterized: tuple[str, ...]


def checked(pair: Pair, x: torch.Tensor, y: torch.Tensor | None = None) -> Pair:
    """The pair with what :func:`check_pair` found (the same model and guide modules)."""
    info = check_pair(pair, x, y)
    return replace(pair, max_plate_nesting=info.max_plate_nesting, enumerated=info.enumerated,
                   not_reparameterized=info.not_reparameterized)


def check_pair(pair: Pair, x: torch.Tensor, y: torch.Tensor | None = None) -> PairInfo:
    """Refuse a guide whose latent sites or shapes differ from the model's; otherwise say
    what the pair uses. Changes nothing."""
    # the draws of a 2-row trace are part of every run's random stream since the first
    # release (kept so that runs reproduce); the check itself uses a prime-size batch and
    # leaves the random state as it found it
    _trace(pair.model, "model", x[:2], y[:2] if y is not None else None)
    _trace(pair.guide, "guide", x[:2], y[:2] if y is not None else None)
    x, y = check_batch(x, y)
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        mtr = _trace(pair.model, "model", x, y)
        gtr = _trace(pair.guide, "guide", x, y)
    msites = sample_sites(mtr)
    gsites = sample_sites(gtr)
    latent = {n for n, s in msites.items() if not s["is_observed"]}
    problems = []
    if OBS_SITE not in msites or not msites[OBS_SITE]["is_observed"]:
        problems.append(f"the model must observe the data at a sample site named {OBS_SITE!r}")
    else:
        batch, event = _shapes(msites[OBS_SITE])
        if batch[-1:] != (x.shape[0],) or event != tuple(x.shape[1:]):
            problems.append(
                f"the model's site {OBS_SITE!r} has batch shape {batch} and event shape {event} "
                f"for a batch of shape {tuple(x.shape)}; expected batch (..., {x.shape[0]}) and "
                f"event {tuple(x.shape[1:])} (a missing .to_event(1)?)")
    if missing := sorted(latent - set(gsites)):
        problems.append(f"model latent site(s) {missing} have no site in the guide")
    if extra := sorted(set(gsites) - latent):
        problems.append(f"guide site(s) {extra} are not latent sites of the model")
    for name in sorted(latent & set(gsites)):
        (mb, me), (gb, ge) = _shapes(msites[name]), _shapes(gsites[name])
        if mb + me != gb + ge:
            problems.append(
                f"latent site {name!r}: model shape {mb + me} but guide shape {gb + ge} "
                "(do model.z_dim and guide.z_dim agree?)"
            )
        elif me != ge:
            problems.append(
                f"latent site {name!r}: model event shape {me} but guide event shape {ge} "
                f"(batch shapes {mb} and {gb}): a missing .to_event(1)?"
            )
    if problems:
        raise IncompatiblePairError(
            f"guide {type(pair.guide).__name__} does not fit model "
            f"{type(pair.model).__name__}: " + "; ".join(problems)
        )
    dims = [
        -f.dim
        for s in msites.values()
        for f in s["cond_indep_stack"]
        if f.vectorized and f.dim is not None
    ]
    enumerated = tuple(n for n, s in gsites.items() if s["infer"].get("enumerate"))
    return PairInfo(
        max_plate_nesting=max(dims, default=0),
        enumerated=enumerated,
        not_reparameterized=tuple(
            n for n, s in gsites.items()
            if n not in enumerated and not getattr(s["fn"], "has_rsample", False)
        ),
    )
