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
from pathlib import Path

import torch

DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}
#: the largest header accepted (as the safetensors package does)
MAX_HEADER = 100_000_000
METADATA = "__metadata__"


class WeightsFileError(ValueError):
    """A file that is not a well-formed safetensors file."""


def _little_endian() -> None:
    if sys.byteorder != "little":
        raise WeightsFileError("safetensors files are little-endian; this machine is not")


def save_tensors(path: str | os.PathLike[str], tensors: dict[str, torch.Tensor],
                 metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (any device; stored as CPU bytes) and ``metadata`` to ``path``."""
    _little_endian()
    header: dict[str, object] = {METADATA: dict(metadata or {})}
    blobs, offset = [], 0
    for name in sorted(tensors):
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


def load_tensors(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors (on the CPU) and metadata of a safetensors file, checked for consistency."""
    _little_endian()
    raw = Path(path).read_bytes()
    if len(raw) < 8:
        raise WeightsFileError("too short for a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER or 8 + n > len(raw):
        raise WeightsFileError(f"header length {n} does not fit the file ({len(raw)} bytes)")
    try:
        header = json.loads(raw[8:8 + n])
    except ValueError as exc:
        raise WeightsFileError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise WeightsFileError("header is not a JSON object")
    metadata = header.pop(METADATA, None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise WeightsFileError("metadata must map strings to strings")
    buffer = memoryview(raw)[8 + n:]
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
        tensors[name] = _tensor(buffer[begin:stop], dtype, shape)
    if end != len(buffer):
        raise WeightsFileError("bytes after the last tensor")
    return tensors, metadata


def _entry(name: str, info: object) -> tuple[torch.dtype, list[int], tuple[int, int]]:
    """A header entry's dtype, shape and byte range, checked against each other."""
    try:
        dtype = DTYPES[info["dtype"]]  # type: ignore[index]
        shape = [int(s) for s in info["shape"]]  # type: ignore[index]
        begin, stop = (int(o) for o in info["data_offsets"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsFileError(f"tensor {name!r}: bad header entry ({exc})") from None
    size = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
    if min(shape, default=0) < 0 or begin < 0 or stop - begin != size:
        raise WeightsFileError(f"tensor {name!r}: shape {shape} does not match bytes "
                               f"{begin}..{stop}")
    return dtype, shape, (begin, stop)


def _tensor(data: memoryview, dtype: torch.dtype, shape: list[int]) -> torch.Tensor:
    if not len(data):
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape)
