"""Tensors in the safetensors layout, read and written without the ``safetensors`` package.

The layout: an 8-byte little-endian header length, a JSON header (per tensor its dtype,
shape and byte range; string metadata under ``"__metadata__"``), then the raw little-endian
bytes. Reading it executes nothing: it is JSON and bytes, checked before use. Files written
here load with ``safetensors.torch.load_file`` and the other way round.
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys

import torch

from ppvae.errors import PPVAEError

DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}
#: the largest header accepted (as the safetensors package does)
MAX_HEADER = 100_000_000
MAX_DIMS = 64
METADATA = "__metadata__"


class WeightsFileError(PPVAEError, ValueError):
    """A file that is not a well-formed safetensors file, or tensors that cannot be one."""

    exit_code = 2


def _little_endian() -> None:
    if sys.byteorder != "little":
        raise WeightsFileError("safetensors files are little-endian; this machine is not")


def save_tensors(path: str | os.PathLike[str], tensors: dict[str, torch.Tensor],
                 metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (any device; stored as CPU bytes) and ``metadata`` to ``path``."""
    _little_endian()
    if METADATA in tensors:
        raise WeightsFileError(f"{METADATA!r} is reserved; no tensor may have that name")
    header: dict[str, object] = {METADATA: dict(metadata or {})}
    blobs, offset = [], 0
    # the widest dtypes first, as the safetensors package lays them out: every tensor aligned
    for name in sorted(tensors, key=lambda k: (-tensors[k].element_size(), k)):
        t = tensors[name].detach().to("cpu").contiguous()
        if t.dtype not in NAMES:
            raise WeightsFileError(f"tensor {name!r}: dtype {t.dtype} has no safetensors name")
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data start 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)
        f.flush()
        os.fsync(f.fileno())


def load_tensors(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors (on the CPU) and metadata of a safetensors file, checked for consistency."""
    _little_endian()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 8:
            raise WeightsFileError("too short for a safetensors header")
        (n,) = struct.unpack("<Q", f.read(8))
        if n > MAX_HEADER or 8 + n > size:
            raise WeightsFileError(f"header length {n} does not fit the file ({size} bytes)")
        header = _header(f.read(n))
        buffer = bytearray(size - 8 - n)
        f.readinto(buffer)
    metadata = header.pop(METADATA, {})
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise WeightsFileError("metadata must map strings to strings")
    entries = sorted(((_entry(name, info), name) for name, info in header.items()),
                     key=lambda e: e[0][2])
    end = 0
    tensors = {}
    for (dtype, shape, (begin, stop)), name in entries:
        if begin != end:
            raise WeightsFileError(f"tensor {name!r}: the byte ranges leave a gap or overlap")
        end = stop
        if stop > len(buffer):
            raise WeightsFileError(f"tensor {name!r} runs past the end of the file")
        try:
            tensors[name] = _tensor(buffer, begin, stop, dtype, shape)
        except RuntimeError as exc:  # e.g. a shape torch cannot lay out
            raise WeightsFileError(f"tensor {name!r}: {exc}") from None
    if end != len(buffer):
        raise WeightsFileError("bytes after the last tensor")
    return tensors, metadata


def _header(text: bytes) -> dict[str, object]:
    try:
        header = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WeightsFileError(f"header is not JSON: {type(exc).__name__}: {exc}") from None
    if not isinstance(header, dict):
        raise WeightsFileError("header is not a JSON object")
    return header


def _count(x: object) -> bool:
    """Whether ``x`` is a JSON integer that can count bytes or elements."""
    return type(x) is int and 0 <= x < 2**63


def _entry(name: str, info: object) -> tuple[torch.dtype, list[int], tuple[int, int]]:
    """A header entry's dtype, shape and byte range, checked against each other."""
    if not isinstance(info, dict) or info.get("dtype") not in DTYPES:
        raise WeightsFileError(f"tensor {name!r}: bad header entry (no known dtype)")
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not (isinstance(shape, list) and len(shape) <= MAX_DIMS and all(map(_count, shape))
            and isinstance(offsets, list) and len(offsets) == 2 and all(map(_count, offsets))):
        raise WeightsFileError(f"tensor {name!r}: bad header entry (shape {shape!r}, "
                               f"data_offsets {offsets!r})")
    dtype = DTYPES[info["dtype"]]
    begin, stop = offsets
    size = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
    if stop - begin != size:
        raise WeightsFileError(f"tensor {name!r}: shape {shape} does not match bytes "
                               f"{begin}..{stop}")
    return dtype, shape, (begin, stop)


def _tensor(buffer: bytearray, begin: int, stop: int, dtype: torch.dtype,
            shape: list[int]) -> torch.Tensor:
    """The tensor in ``buffer[begin:stop]``, sharing its memory."""
    if begin == stop:
        return torch.empty(shape, dtype=dtype)
    count = (stop - begin) // torch.empty((), dtype=dtype).element_size()
    return torch.frombuffer(buffer, dtype=dtype, count=count, offset=begin).reshape(shape)
