"""Weights-only copies of runs, e.g. for ``pretrained/``: the config, the metrics and the
weights (safetensors files: one of fields, one per part), without optimizer or random
state. A run on VAE features takes its feature VAE's encoder along, which is all that
classifying and evaluating read."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ppvae.errors import PPVAEError, RunError
from ppvae.rundir import (
    CHECKPOINT,
    METRICS,
    PARTS,
    RUN_JSON,
    WEIGHTS,
    RunDir,
    atomic_write_text,
    check_source,
    checksum,
    save_weights,
)

#: the folder, inside an export, of the feature VAE a run on ``vae_features`` reads
FEATURES = "features"


def export_run(run_dir: str | os.PathLike[str], out: str | os.PathLike[str],
               checkpoint: str = CHECKPOINT, parts: tuple[str, ...] = PARTS,
               max_file_bytes: int | None = None) -> Path:
    """Write ``out``: ``run_dir``'s config, its metrics up to the exported epoch and the
    weights of ``checkpoint``'s ``parts`` (``weights.safetensors``, with
    ``weights.model.safetensors`` and ``weights.guide.safetensors`` for the tensors). ``out``
    is named as it will be read (relative to the working directory), since runs on features
    record their feature VAE's path. ``max_file_bytes``: shard each part's tensors into
    files of at most that many tensor bytes (``weights.guide.1-of-3.safetensors``, ...), e.g.
    for a repository that limits the size of its files."""
    if max_file_bytes is not None and max_file_bytes < 1:
        raise RunError(f"the largest file must be a positive number of bytes, not "
                       f"{max_file_bytes}")
    src, dst = RunDir(run_dir), Path(out)
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise RunError(f"{dst} exists and is not an empty folder")
    tmp = dst.with_name(f".{dst.name}.export-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        try:
            _write(src, checkpoint, parts, tmp, dst, max_file_bytes)
        except ValueError as exc:  # e.g. a row of a tensor larger than max_file_bytes
            if isinstance(exc, PPVAEError):
                raise
            raise RunError(f"cannot export {src.path}: {exc}") from None
        if dst.exists():
            dst.rmdir()
        tmp.rename(dst)  # all or nothing
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dst


def _write(src: RunDir, checkpoint: str, parts: tuple[str, ...], tmp: Path, dst: Path,
           max_file_bytes: int | None) -> None:
    """The export of ``src`` into ``tmp``, its paths naming ``dst``."""
    info = src.read_info()
    state = src.load(checkpoint)
    raw = json.loads(src.file(RUN_JSON).read_text())
    config = raw["config"]
    source = info.data_source
    if info.config.data.name == "vae_features":
        from ppvae.data.features import feature_source

        upstream = info.config.data.options.run
        if not RunDir(upstream).has_checkpoint():
            raise RunError(f"{src.path} reads the features of {upstream}, which holds no run "
                           "(paths are relative to the folder commands run from)")
        check_source(info.data_source, feature_source(upstream), src.path)
        tmp.mkdir(parents=True)
        export_run(upstream, tmp / FEATURES, parts=("guide",), max_file_bytes=max_file_bytes)
        features = str(dst / FEATURES)
        config["data"].update(run=features, stage1=None)
        source = feature_source(str(tmp / FEATURES)).replace(str(tmp / FEATURES), features, 1)
    epoch = int(state["epoch"])
    metrics = [m for m in src.read_metrics() if int(m["epoch"]) <= epoch]
    held = [p for p in PARTS if p in parts and p in state.get("parts", PARTS)]
    slim = {"format": state["format"], "epoch": epoch, "parts": held,
            **{p: state[p] if p in held else {} for p in PARTS},
            "config": json.dumps(config), "data_source": source, "weights_only": True,
            "exported_from": str(src.path_of(checkpoint))}
    slim["checksum"] = checksum(slim)
    tmp.mkdir(parents=True, exist_ok=True)
    save_weights(slim, tmp / WEIGHTS, max_file_bytes)
    atomic_write_text(tmp / RUN_JSON, json.dumps({**raw, "config": config,
                                                 "data_source": source}, indent=2))
    atomic_write_text(tmp / METRICS, "".join(json.dumps(m) + "\n" for m in metrics))
