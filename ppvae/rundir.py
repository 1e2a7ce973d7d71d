"""The run folder: ``run.json``, ``metrics.jsonl``, ``checkpoint.pt``, ``best.pt``; or, for a
weights-only export, ``weights.safetensors`` (with one tensor file per part beside it) in
place of the checkpoints.

Every write is atomic (temporary file, then rename); checkpoints hold CPU tensors and JSON
only and are read with ``weights_only=True``; exports are read without unpickling. The
checks made on resume (same model, guide and data config, same data source, same schedule)
live here too.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch

from ppvae.config import RunConfig, from_dict
from ppvae.data.base import DataSpec, TensorData
from ppvae.errors import RunError, UnknownNameError
from ppvae.pair import Pair, build_pair, checked
from ppvae.weightsfile import load_tensors, save_tensors

RUN_JSON = "run.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
DAMAGED = "checkpoint.damaged.pt"
BEST = "best.pt"
LOCK = ".lock"
KEYS = ("format", "epoch", "model", "guide", "optim", "rng", "gen", "config", "metrics")
#: a weights-only export's file (``ppvae export``), in the safetensors layout
WEIGHTS = "weights.safetensors"
#: the fields of a weights-only export besides its tensors, with their types
WEIGHTS_FIELDS = {"format": int, "epoch": int, "parts": list, "config": str,
                  "data_source": str, "checksum": str}
#: the parts of a pair an export may hold (a feature VAE's export keeps only its guide)
PARTS = ("model", "guide")
#: the field of a weights file that counts the shards of each sharded part
SHARDS = "shards"
#: the most shards a part may have
MAX_SHARDS = 10_000
#: between a tensor's name and the index of one of its blocks of rows in a shard
PIECE = "#"


def atomic_save(obj: Any, path: Path) -> None:
    """Write ``obj`` to a temp file beside ``path``, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def to_cpu(obj: Any) -> Any:
    """``obj`` with every tensor in it (nested dicts, lists, tuples) copied to the CPU."""
    if torch.is_tensor(obj):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def part_file(path: Path, part: str, shard: tuple[int, int] | None = None) -> Path:
    """The file of one part's tensors beside a weights file: ``weights.model.safetensors``,
    or shard ``(i, n)`` of them: ``weights.model.2-of-3.safetensors``."""
    tag = f".{shard[0]}-of-{shard[1]}" if shard else ""
    return path.with_name(f"{path.stem}.{part}{tag}{path.suffix}")


def save_weights(state: dict[str, Any], path: Path, max_file_bytes: int | None = None) -> None:
    """Write a weights-only state (``model``/``guide`` tensors and JSON-able fields, with
    ``parts`` naming the parts it holds): the fields in ``path``, each part's tensors in its
    own safetensors file beside it (:func:`part_file`), so that the model and the guide can
    be read, and stored, apart. With ``max_file_bytes``, a part larger than that is split
    into shards of at most that many tensor bytes, each a safetensors file of its own (a
    tensor larger than that in blocks of rows, ``name#0``, ``name#1``, ...; tensor names
    may not hold ``#``). The files are written one by one: write them into a fresh folder
    that is renamed into place (as :func:`ppvae.export.export_run` does)."""
    shards: dict[str, int] = {}
    for part in state["parts"]:
        files = ([state[part]] if max_file_bytes is None
                 else _shards(state[part], max_file_bytes))
        n = len(files)
        for i, tensors in enumerate(files, 1):
            meta = {"ppvae_part": part, **({"ppvae_shard": f"{i}/{n}"} if n > 1 else {})}
            save_tensors(part_file(path, part, (i, n) if n > 1 else None), tensors, meta)
        if n > 1:
            shards[part] = n
    fields = {k: v for k, v in state.items() if k not in PARTS}
    save_tensors(path, {}, {"ppvae": json.dumps({**fields, **({SHARDS: shards} if shards
                                                                else {})})})


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _shards(tensors: dict[str, torch.Tensor], limit: int) -> list[dict[str, torch.Tensor]]:
    """``tensors`` in order, in groups of at most ``limit`` bytes each: a tensor that does
    not fit in what is left of the current group starts the next one, and a tensor larger
    than ``limit`` is cut into blocks of rows that fill the groups."""
    if limit < 1:
        raise ValueError(f"max_file_bytes must be positive, not {limit}")
    groups: list[dict[str, torch.Tensor]] = [{}]
    free = limit
    for name, t in tensors.items():
        if PIECE in name:
            raise ValueError(f"tensor name {name!r} holds {PIECE!r}, which marks blocks of rows")
        if _nbytes(t) > free and _nbytes(t) <= limit:
            groups.append({})
            free = limit
        if _nbytes(t) <= free:
            groups[-1][name] = t
            free -= _nbytes(t)
            continue
        row = _nbytes(t[0]) if t.dim() and t.shape[0] else _nbytes(t)
        if t.dim() == 0 or row > limit:
            raise ValueError(f"tensor {name!r}: a row of it is {row} bytes, more than the "
                             f"{limit} bytes a file may hold")
        start, index = 0, 0
        while start < t.shape[0]:
            if free < row:
                groups.append({})
                free = limit
            rows = min(free // row, t.shape[0] - start)
            groups[-1][f"{name}{PIECE}{index}"] = t[start:start + rows]
            free -= rows * row
            start, index = start + rows, index + 1
    return groups


def _join(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of :func:`_shards`' groups, merged, with the blocks of rows joined."""
    blocks: dict[str, dict[int, torch.Tensor]] = {}
    whole: dict[str, torch.Tensor] = {}
    for name, t in tensors.items():
        base, cut, index = name.partition(PIECE)
        if not cut:
            whole[name] = t
        elif index.isdigit() and str(int(index)) == index and t.dim():
            blocks.setdefault(base, {})[int(index)] = t
        else:
            raise ValueError(f"tensor {name!r}: not a block of rows of a tensor")
    for base, parts in blocks.items():
        first = parts.get(0)
        if base in whole or first is None or sorted(parts) != list(range(len(parts))) or any(
                b.dtype != first.dtype or b.shape[1:] != first.shape[1:] for b in parts.values()):
            raise ValueError(f"the blocks of rows of tensor {base!r} are incomplete, doubled "
                             "or do not fit together")
        whole[base] = torch.cat([parts[i] for i in range(len(parts))])
    return whole


def load_weights(path: Path) -> dict[str, Any]:
    """Read the files of :func:`save_weights` back into the same state (also a single file
    holding every part's tensors as ``part.name``, as older exports are)."""
    try:
        tensors, metadata = load_tensors(path)
        state, shards = _fields(metadata)
        for part in PARTS:
            state[part] = {}
        for name, tensor in tensors.items():
            part, dot, key = name.partition(".")
            if not dot or part not in state["parts"]:
                raise ValueError(f"tensor {name!r} is not in one of the parts {state['parts']}")
            state[part][key] = tensor
        if not tensors:  # the tensors are in one file per part, or in its shards
            for part in state["parts"]:
                state[part] = _load_part(path, part, shards.get(part, 1))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunError(f"cannot read {path} (not a ppvae weights file, or damaged): "
                       f"{type(exc).__name__}: {exc}") from None
    return state


def _fields(metadata: dict[str, str]) -> tuple[dict[str, Any], dict[str, int]]:
    """The fields of a weights file's metadata, checked, and the shards of its parts."""
    state = json.loads(metadata["ppvae"])
    if not isinstance(state, dict):
        raise ValueError("its metadata are not a JSON object")
    bad = [k for k, kind in WEIGHTS_FIELDS.items()
           if type(state.get(k)) is not kind]  # exact types: a bool is no epoch
    if bad:
        raise ValueError(f"fields missing or of the wrong type: {bad}")
    if not set(state["parts"]) <= set(PARTS):
        raise ValueError(f"parts {state['parts']!r}")
    shards = state.pop(SHARDS, {})
    if not isinstance(shards, dict) or not all(
            p in state["parts"] and type(n) is int and 1 < n <= MAX_SHARDS
            for p, n in shards.items()):
        raise ValueError(f"bad {SHARDS!r} field: {shards!r}")
    return state, shards


def _load_part(path: Path, part: str, n: int = 1) -> dict[str, torch.Tensor]:
    """The tensors of ``part`` in its file beside ``path``, or in its ``n`` shards."""
    files = [part_file(path, part, (i, n) if n > 1 else None) for i in range(1, n + 1)]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise RunError(f"{path} needs {', '.join(missing)} beside it (the {part}'s weights); "
                       "copy the whole export folder")
    tensors: dict[str, torch.Tensor] = {}
    for i, file in enumerate(files, 1):
        held, metadata = load_tensors(file)
        if metadata.get("ppvae_part") != part or (
                n > 1 and metadata.get("ppvae_shard") != f"{i}/{n}"):
            raise ValueError(f"{file.name} does not hold the {part}"
                             + (f" (shard {i} of {n})" if n > 1 else ""))
        if held.keys() & tensors.keys():
            raise ValueError(f"{file.name} repeats tensors of another shard")
        tensors.update(held)
    return _join(tensors) if n > 1 else tensors


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint (or an export's weights file) onto the CPU without executing code
    from it."""
    if not path.is_file():
        raise RunError(f"no checkpoint at {path}")
    if path.suffix == Path(WEIGHTS).suffix:
        return load_weights(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (a damaged file fails in many ways; no code runs)
        raise RunError(f"cannot read checkpoint {path} (weights-only load: the file is damaged "
                       f"or not a checkpoint): {type(exc).__name__}: {exc}") from None
    if isinstance(state, dict) and state.get("weights_only"):
        raise RunError(f"{path} is an export by an older ppvae (a torch file); export the run "
                       "again (ppvae export) to get weights.safetensors")
    missing = [k for k in KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise RunError(f"{path} is not a ppvae checkpoint (missing {missing})")
    return state


def load_pair_state(pair: Any, state: dict[str, Any], path: Path) -> None:
    """Load a checkpoint's model and guide weights (those it holds); a clear error if they do
    not fit."""
    try:
        for part in state.get("parts", PARTS):
            getattr(pair, part).load_state_dict(state[part])
    except RuntimeError as exc:
        raise RunError(
            f"{path} does not fit the model and guide its config builds "
            f"(saved by another ppvae version?): {str(exc).splitlines()[0]}"
        ) from None


@dataclass(frozen=True)
class RunInfo:
    """What ``run.json`` records: the config, the data's shape and the data's source."""

    config: RunConfig
    spec: DataSpec
    data_source: str = ""


def check_source(saved: str, current: str, run_dir: Path) -> None:
    """Refuse data derived from another run (e.g. VAE features) that changed since."""
    if saved != current:
        raise RunError(
            f"the data of {run_dir} changed since it was trained: it was trained on "
            f"{saved or 'plain data'}, the data are now {current or 'plain data'}"
        )


def checksum(obj: Any) -> str:
    """SHA-256 of a checkpoint's contents (tensors by dtype, shape and bytes; the rest by
    repr), independent of how ``torch.save`` lays them out."""
    h = hashlib.sha256()

    def feed(x: Any) -> None:
        if torch.is_tensor(x):
            t = x.detach().cpu().contiguous().reshape(-1)
            h.update(f"T{t.dtype}{tuple(x.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(x, dict):
            h.update(b"{")
            for k in sorted(x, key=str):
                h.update(repr(k).encode())
                feed(x[k])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for v in x:
                feed(v)
            h.update(b"]")
        else:
            h.update(repr(x).encode())

    feed({k: v for k, v in obj.items() if k != "checksum"})
    return h.hexdigest()


class RunDir:
    """One run folder and the files in it.

    A run folder holds a run once it has a checkpoint; ``run.json`` and ``metrics.jsonl``
    are written with every checkpoint, so they always describe it. The previous checkpoint
    is kept as ``checkpoint.prev.pt``. One process at a time owns the folder
    (:meth:`lock`).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock: Any = None

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoint(self) -> Path:
        """The last checkpoint, or an export's weights file."""
        return self.path_of(CHECKPOINT)

    def path_of(self, name: str) -> Path:
        """The file of checkpoint ``name``; in an export, the weights file stands for the
        last checkpoint."""
        if name == CHECKPOINT and self.holds_weights_only():
            return self.file(WEIGHTS)
        return self.file(name)

    def has_checkpoint(self) -> bool:
        return self.checkpoint.is_file()

    def has_info(self) -> bool:
        """Whether ``run.json`` exists."""
        return self.file(RUN_JSON).exists()

    def holds_weights_only(self) -> bool:
        """Whether the folder is a weights-only export (``ppvae export``)."""
        return self.file(WEIGHTS).is_file()

    def check(self, resume: bool, name: str = CHECKPOINT) -> None:
        """A resumed run needs its checkpoint; a new run needs a folder without one (a
        folder whose run stopped before its first checkpoint is started afresh)."""
        if self.path.exists() and not self.path.is_dir():
            raise RunError(f"{self.path} is a file, not a run folder; choose another --out")
        if resume:
            if self.holds_weights_only():
                raise RunError(f"{self.path} holds weights only (made by ppvae export): it can "
                               "be loaded and evaluated, not resumed")
            if self.file(name).is_file():
                return
            if self.file(PREVIOUS).is_file():
                raise RunError(f"{self.file(name)} is missing, but the previous checkpoint is "
                               f"there: resume from it with --previous")
            if self.has_info():
                raise RunError(f"nothing to resume: the run in {self.path} stopped before its "
                               "first checkpoint; start it again with the same command "
                               "without --resume")
            raise RunError(f"nothing to resume: no checkpoint at {self.file(name)}")
        if self.has_checkpoint() or self.file(PREVIOUS).is_file():
            raise RunError(
                f"{self.path} already holds a run; continue it with --resume "
                "(resume=True) or choose another output folder"
            )

    def lock(self) -> None:
        """Own the folder until the process ends or :meth:`unlock` (another process that
        tries is refused); also removes temporary files a killed run left."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.file(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunError(f"cannot write the run folder {self.path}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunError(f"{self.path} is in use by another ppvae process (pid {holder}); "
                           "wait for it to end or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock = fd
        for stale in self.path.glob(".*.tmp"):
            stale.unlink(missing_ok=True)

    def unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # releases the flock
            self._lock = None

    def set_aside_last(self) -> None:
        """Move ``checkpoint.pt`` to ``checkpoint.damaged.pt`` (resuming from the previous
        one: the damaged file must never be kept as "previous")."""
        if self.file(CHECKPOINT).is_file():
            os.replace(self.file(CHECKPOINT), self.file(DAMAGED))

    def discard_if_unused(self) -> None:
        """Remove the folder if a failed start left nothing in it but its lock file (only
        while this process owns it)."""
        if self._lock is None or not self.path.is_dir() or self.has_checkpoint():
            return
        for name in (LOCK,):
            self.file(name).unlink(missing_ok=True)
        for stale in self.path.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        try:
            self.path.rmdir()
        except OSError:  # something else is in it: leave it
            pass

    def read_info(self) -> RunInfo:
        """The config, data spec and data source saved in ``run.json`` (plugins named there
        are not imported: a run folder never runs code)."""
        path = self.file(RUN_JSON)
        if not path.is_file():
            raise RunError(f"{self.path} is not a ppvae run folder (no {RUN_JSON})")
        try:
            info = json.loads(path.read_text())
            s = info["spec"]
            spec = DataSpec(
                x_dim=int(s["x_dim"]),
                image_shape=tuple(s["image_shape"]) if s.get("image_shape") else None,
                num_classes=s.get("num_classes"),
            )
            raw = info["config"]
        except (ValueError, KeyError, TypeError) as exc:
            raise RunError(f"{path} is damaged ({type(exc).__name__}: {exc})") from None
        return RunInfo(config_of_run(raw, path), spec, info.get("data_source", ""))

    def info_text(self, cfg: RunConfig, data: TensorData) -> str:
        """``run.json``: the config and the data's shape (enough to rebuild the pair)."""
        spec = data.spec
        return json.dumps({
            "config": cfg.to_dict(),
            "data_source": data.source,
            "spec": {
                "x_dim": spec.x_dim,
                "image_shape": list(spec.image_shape) if spec.image_shape else None,
                "num_classes": spec.num_classes,
            },
        }, indent=2)

    def read_metrics(self) -> list[dict[str, Any]]:
        """The per-epoch records (empty if there are none)."""
        path = self.file(METRICS)
        if not path.is_file():
            return []
        try:
            return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        except ValueError as exc:
            raise RunError(f"{path} is damaged ({exc}); restore it or delete the run") from None

    def write_metrics(self, metrics: list[dict[str, Any]]) -> None:
        atomic_write_text(self.file(METRICS), "".join(json.dumps(m) + "\n" for m in metrics))

    def load(self, name: str = CHECKPOINT) -> dict[str, Any]:
        """A checkpoint of this run (``checkpoint.pt``, ``checkpoint.prev.pt`` or
        ``best.pt``) on the CPU, its checksum verified."""
        path = self.path_of(name)
        state = load_checkpoint(path)
        if "checksum" in state and checksum(state) != state["checksum"]:
            hint = ""
            if name == CHECKPOINT and self.file(PREVIOUS).is_file():
                hint = (f"; the previous checkpoint ({PREVIOUS}) is kept: resume from it with "
                        "--resume --previous")
            what = str(path)
            if path.name == WEIGHTS:
                what += f" (with {part_file(path, '*').name})"
            raise RunError(f"{what} is damaged (its contents do not match their checksum)"
                           f"{hint}")
        return state

    def save(self, state: dict[str, Any], metrics: list[dict[str, Any]], best: bool,
             info: str) -> None:
        """Save an epoch's state with its checksum (as ``best.pt`` too when it is the best so
        far), keeping the previous checkpoint; then ``run.json`` (``info``) and the metrics
        that go with it."""
        state = to_cpu(state)
        state["checksum"] = checksum(state)
        if best:  # before the last checkpoint moves on
            atomic_save(state, self.file(BEST))
        last = self.file(CHECKPOINT)
        if last.is_file():  # the last good one stays, whatever happens next
            tmp = self.file(f".{PREVIOUS}.tmp")
            tmp.unlink(missing_ok=True)
            try:
                os.link(last, tmp)
            except OSError:  # a file system without hard links
                shutil.copyfile(last, tmp)
            os.replace(tmp, self.file(PREVIOUS))
        atomic_write_text(self.file(RUN_JSON), info)
        atomic_save(state, last)
        self.write_metrics(metrics)

    def check_resume(self, state: dict[str, Any], cfg: RunConfig, source: str) -> None:
        """Refuse to resume with another model/guide/data config, other data, another label
        split, fewer epochs than trained, or a schedule that would change the epochs already
        trained."""
        if state.get("weights_only"):
            raise RunError(f"{self.path} holds weights only (made by ppvae export): it can be "
                           "loaded and evaluated, not resumed")
        saved = config_of_run(json.loads(state["config"]), self.checkpoint)
        if saved.model != cfg.model or saved.guide != cfg.guide or saved.data != cfg.data:
            raise RunError(
                f"{self.path} was trained with another data/model/guide config; "
                "resume it with its own config"
            )
        check_source(state.get("data_source", ""), source, self.path)
        split = ("labels", "label_seed", "label_rng", "n_valid", "label_site")
        if (saved.semi is None) != (cfg.semi is None) or (saved.semi is not None and any(
                getattr(saved.semi, k) != getattr(cfg.semi, k) for k in split)):
            raise RunError(
                f"{self.path} was trained with another [semi] table (or without one); the "
                f"labels, their draw and the validation set ({', '.join(split)}) must stay")
        t, s = cfg.train, saved.train
        done = int(state["epoch"])
        if t.epochs < done:
            raise RunError(f"{self.path} has trained {done} epochs; train.epochs = {t.epochs} "
                           f"would end before that (give --epochs {done} or more)")
        if s.kl_warmup != t.kl_warmup:
            raise RunError(f"{self.path} was trained with train.kl_warmup = {s.kl_warmup}; "
                           f"resuming with {t.kl_warmup} would change its epochs' weights")
        if s.lr_schedule == "burda_scaled" and s.epochs != t.epochs:
            raise RunError(
                f"{self.path} uses lr_schedule 'burda_scaled', which spreads its stages over "
                f"train.epochs: resuming with {t.epochs} instead of {s.epochs} "
                "epochs would change the learning rates of the epochs already trained"
            )


def config_of_run(raw: Any, where: Path) -> RunConfig:
    """A run's recorded config, without importing the plugins it names; when one of its
    names is not registered, the error names the plugins to load."""
    try:
        return from_dict(raw, import_plugins=False)
    except UnknownNameError as exc:
        plugins = raw.get("plugins") if isinstance(raw, dict) else None
        if plugins:
            raise RunError(
                f"{where} was trained with plugin(s) {', '.join(plugins)}, which register "
                f"{exc.kind} {exc.name!r}; ppvae never imports code named in a run folder: "
                "load them yourself (--plugin MODULE, or import them in Python)") from None
        raise


class LoadedPair(NamedTuple):
    """A run's model/guide pair rebuilt from one of its checkpoints."""

    path: Path
    config: RunConfig
    spec: DataSpec
    pair: Pair


def load_run_pair(run_dir: str | os.PathLike[str], checkpoint: str = CHECKPOINT,
                  device: torch.device | str = "cpu",
                  need: tuple[str, ...] = PARTS) -> LoadedPair:
    """Rebuild a run's model and guide on ``device`` from ``checkpoint`` (no code is executed
    from it). ``need``: the parts whose weights must be there; ``("guide",)`` accepts an
    export that holds a feature VAE's encoder only (its model keeps initial weights)."""
    folder = RunDir(run_dir)
    info = folder.read_info()
    state = folder.load(checkpoint)
    held = state.get("parts", PARTS)
    if not set(need) <= set(held):
        missing = " and ".join(p for p in need if p not in held)
        raise RunError(f"{folder.path} holds the weights of its {' and '.join(held) or 'nothing'}"
                       f" only, not of its {missing} (an export keeps a feature VAE's encoder, "
                       "which is what features are read with): it cannot decode or sample")
    pair = build_pair(info.config, info.spec)
    load_pair_state(pair, state, folder.path_of(checkpoint))
    pair.to(device)
    pair = checked(pair, torch.zeros(2, info.spec.x_dim, device=pair.device))
    pair.train(False)
    return LoadedPair(folder.path, info.config, info.spec, pair)
