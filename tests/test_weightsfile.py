"""The safetensors layout of ``ppvae.weightsfile``: round trips, the byte layout the format
specifies (checked with an independent reader and writer written from the spec), and clear
errors for damaged files."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from ppvae.errors import RunError
from ppvae.rundir import PARTS, checksum, load_checkpoint, save_weights
from ppvae.weightsfile import WeightsFileError, load_tensors, save_tensors


def _tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "a.weight": torch.randn(3, 4, generator=g),
        "b": torch.randn(5, generator=g, dtype=torch.float64),
        "half": torch.randn(2, 2, generator=g).to(torch.float16),
        "bf": torch.randn(7, generator=g).to(torch.bfloat16),
        "ints": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "mask": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "strided": torch.randn(4, 6, generator=g)[:, ::2],  # not contiguous
    }


def test_tensors_and_metadata_round_trip(tmp_path):
    path = tmp_path / "w.safetensors"
    tensors = _tensors()
    save_tensors(path, tensors, {"note": "x", "json": json.dumps({"k": [1, 2]})})
    back, meta = load_tensors(path)
    assert meta == {"note": "x", "json": '{"k": [1, 2]}'}
    assert set(back) == set(tensors)
    for name, t in tensors.items():
        assert back[name].dtype == t.dtype and torch.equal(back[name], t), name


def _read_by_the_spec(raw: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """An independent reader: u64 header length, JSON header, little-endian bytes."""
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    kinds = {"F32": "<f4", "F64": "<f8", "I64": "<i8"}
    arrays = {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]],
                               dtype=kinds[v["dtype"]]).reshape(v["shape"])
              for k, v in header.items() if k != "__metadata__"}
    return header, arrays


def test_the_bytes_follow_the_safetensors_spec(tmp_path):
    path = tmp_path / "w.safetensors"
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 7
    y = torch.tensor([-1, 2**40], dtype=torch.int64)
    save_tensors(path, {"x": x, "y": y}, {"m": "v"})
    raw = path.read_bytes()
    header, arrays = _read_by_the_spec(raw)
    assert (8 + struct.unpack("<Q", raw[:8])[0]) % 8 == 0  # data aligned to 8 bytes
    assert header["__metadata__"] == {"m": "v"}
    # the 8-byte dtype first, so that every tensor starts aligned to its element size
    assert header["y"] == {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}
    assert header["x"] == {"dtype": "F32", "shape": [3, 4], "data_offsets": [16, 64]}
    assert np.array_equal(arrays["x"], x.numpy()) and np.array_equal(arrays["y"], y.numpy())


def test_a_file_written_by_the_spec_loads(tmp_path):
    """A file as another writer may lay it out: tensors in reverse order, no padding."""
    b = np.array([1.5, -2.0], dtype="<f8").tobytes()
    a = np.arange(4, dtype="<f4").tobytes()
    header = json.dumps({"b": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]},
                         "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [16, 32]}})
    path = tmp_path / "w.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + b + a)
    tensors, meta = load_tensors(path)
    assert meta == {}
    assert torch.equal(tensors["a"], torch.arange(4, dtype=torch.float32).reshape(2, 2))
    assert torch.equal(tensors["b"], torch.tensor([1.5, -2.0], dtype=torch.float64))


def _file(header: object, data: bytes = b"", length: int | None = None) -> bytes:
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(text) if length is None else length) + text + data


ENTRY = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(("raw", "message"), [
    (b"\x01\x02", "too short"),
    (_file({"x": ENTRY}, bytes(8), length=10**9), "does not fit"),
    (_file(b"{not json", bytes(8)), "not JSON"),
    (_file([1, 2]), "not a JSON object"),
    (_file({"x": ENTRY}, bytes(4)), "past the end"),
    (_file({"x": ENTRY}, bytes(12)), "after the last tensor"),
    (_file({"x": {**ENTRY, "shape": [3]}}, bytes(8)), "does not match"),
    (_file({"x": {**ENTRY, "dtype": "F8"}}, bytes(8)), "bad header entry"),
    (_file({"x": ENTRY, "y": ENTRY}, bytes(8)), "gap or overlap"),
    (_file({"x": {**ENTRY, "data_offsets": [4, 12]}}, bytes(12)), "gap or overlap"),
    (_file({"__metadata__": {"k": 1}, "x": ENTRY}, bytes(8)), "strings to strings"),
    (_file({"__metadata__": [], "x": ENTRY}, bytes(8)), "strings to strings"),
    (_file(b'{"x": {"dtype": "F32", "shape": [Infinity], "data_offsets": [0, 8]}}', bytes(8)),
     "bad header entry"),
    (_file({"x": {**ENTRY, "shape": [True, 2]}}, bytes(8)), "bad header entry"),
    (_file({"x": {**ENTRY, "data_offsets": [0.0, 8]}}, bytes(8)), "bad header entry"),
    (_file({"x": {**ENTRY, "data_offsets": "08"}}, bytes(8)), "bad header entry"),
    (_file({"x": {**ENTRY, "shape": [-2]}}, bytes(8)), "bad header entry"),
    (_file({"x": {**ENTRY, "shape": [0, 2**62, 4], "data_offsets": [0, 0]}}), "overflow"),
    (_file(b"[" * 100_000 + b"]" * 100_000), "not JSON"),
])
def test_damaged_files_are_refused_with_the_reason(tmp_path, raw, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(raw)
    with pytest.raises(WeightsFileError, match=message):
        load_tensors(path)
    with pytest.raises(RunError, match="cannot read"):
        load_checkpoint(path)  # as a run folder's weights file: a RunError (exit 2)


def _state(parts: list[str]) -> dict:
    g = torch.Generator().manual_seed(1)
    state = {"format": 2, "epoch": 3, "parts": parts, "config": "{}", "metrics": "[]",
             "data_source": "", "weights_only": True, "exported_from": "run/checkpoint.pt",
             "model": {"dec.w": torch.randn(2, 3, generator=g)} if "model" in parts else {},
             "guide": {"enc.w": torch.randn(3, 2, generator=g)}}
    state["checksum"] = checksum(state)
    return state


@pytest.mark.parametrize("parts", [list(PARTS), ["guide"]])
def test_a_weights_only_state_round_trips_with_its_checksum(tmp_path, parts):
    path = tmp_path / "weights.safetensors"
    state = _state(parts)
    save_weights(state, path)
    back = load_checkpoint(path)
    assert checksum(back) == state["checksum"] == back["checksum"]
    assert back.keys() == state.keys() and back["parts"] == parts
    for part in PARTS:
        assert back[part].keys() == state[part].keys()
        assert all(torch.equal(back[part][k], v) for k, v in state[part].items())


def test_a_changed_weight_fails_the_checksum(tmp_path):
    """A flipped byte in a tensor still parses; the checksum is what catches it."""
    from ppvae.rundir import RunDir

    run = tmp_path / "run"
    run.mkdir()
    save_weights(_state(list(PARTS)), run / "weights.safetensors")
    RunDir(run).load()  # intact
    raw = bytearray((run / "weights.guide.safetensors").read_bytes())
    raw[-1] ^= 0x40
    (run / "weights.guide.safetensors").write_bytes(bytes(raw))
    with pytest.raises(RunError, match="damaged"):
        RunDir(run).load()


def test_a_missing_or_swapped_part_file_is_refused(tmp_path):
    save_weights(_state(list(PARTS)), tmp_path / "weights.safetensors")
    model, guide = tmp_path / "weights.model.safetensors", tmp_path / "weights.guide.safetensors"
    model.rename(tmp_path / "kept")
    with pytest.raises(RunError, match="needs weights.model.safetensors beside it"):
        load_checkpoint(tmp_path / "weights.safetensors")
    guide.rename(model)  # the guide's tensors where the model's belong
    with pytest.raises(RunError, match="does not hold the model"):
        load_checkpoint(tmp_path / "weights.safetensors")


def test_a_single_file_holding_every_part_still_loads(tmp_path):
    """The layout of older exports: the tensors of every part in the one file."""
    state = _state(list(PARTS))
    fields = {k: v for k, v in state.items() if k not in PARTS}
    tensors = {f"{p}.{k}": v for p in PARTS for k, v in state[p].items()}
    save_tensors(tmp_path / "weights.safetensors", tensors, {"ppvae": json.dumps(fields)})
    back = load_checkpoint(tmp_path / "weights.safetensors")
    assert checksum(back) == state["checksum"]


@pytest.mark.parametrize(("fields", "extra", "message"), [
    ({"checksum": None}, {}, "wrong type"),  # None: the field is left out
    ({"epoch": True}, {}, "wrong type"),
    ({"parts": ["guide", "optim"]}, {}, "parts"),
    ({}, {"model": torch.zeros(1)}, "not in one of the parts"),
    ({}, {"optim.x": torch.zeros(1)}, "not in one of the parts"),
])
def test_a_weights_file_with_wrong_fields_is_refused(tmp_path, fields, extra, message):
    state = _state(["model", "guide"])
    meta = {k: v for k, v in {**state, **fields}.items() if k not in PARTS and v is not None}
    tensors = {f"{p}.{k}": v for p in PARTS for k, v in state[p].items()}
    path = tmp_path / "weights.safetensors"
    save_tensors(path, {**tensors, **extra}, {"ppvae": json.dumps(meta)})
    with pytest.raises(RunError, match=message):
        load_checkpoint(path)


def test_an_export_in_the_older_torch_format_is_told_to_export_again(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"weights_only": True, "epoch": 1, "model": {}, "guide": {}}, path)
    with pytest.raises(RunError, match="export the run again"):
        load_checkpoint(path)


def test_reserved_names_and_unnamed_dtypes_are_refused_on_writing(tmp_path):
    with pytest.raises(WeightsFileError, match="reserved"):
        save_tensors(tmp_path / "a", {"__metadata__": torch.zeros(1)})
    with pytest.raises(WeightsFileError, match="no safetensors name"):
        save_tensors(tmp_path / "b", {"c": torch.zeros(1, dtype=torch.complex64)})
