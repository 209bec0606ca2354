"""Safetensors read/write in pure Python + torch (the `safetensors` package is absent here).

Format (https://github.com/huggingface/safetensors): u64 little-endian header length N,
N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
then the raw little-endian tensor bytes; offsets are relative to the end of the header.
Sharded folders add `model.safetensors.index.json` {"metadata": {"total_size"},
"weight_map": {name: file}} as transformers writes it.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass

from functools import lru_cache

from .errors import TrainerError

# Header parsing needs no torch, so `inspect-model` answers in ~0.1 s instead of ~1.5 s.
ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


@lru_cache(maxsize=1)
def _torch_dtypes() -> dict:
    import torch

    return {
        "F64": torch.float64,
        "F32": torch.float32,
        "F16": torch.float16,
        "BF16": torch.bfloat16,
        "I64": torch.int64,
        "I32": torch.int32,
        "I16": torch.int16,
        "I8": torch.int8,
        "U8": torch.uint8,
        "BOOL": torch.bool,
    }


def __getattr__(name):  # DTYPES / DTYPE_NAMES, built on first use (PEP 562)
    if name == "DTYPES":
        return _torch_dtypes()
    if name == "DTYPE_NAMES":
        return {v: k for k, v in _torch_dtypes().items()}
    raise AttributeError(name)


SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
MAX_HEADER_BYTES = 100 * 1024 * 1024  # same guard as the reference implementation


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    file: str
    begin: int  # absolute byte offset in `file`
    end: int


def read_header(path: str) -> tuple[dict, list[TensorInfo]]:
    """Parses one file's header, checking every rule the format states."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise ValueError("file shorter than 8 bytes")
            (n,) = struct.unpack("<Q", raw)
            if n > MAX_HEADER_BYTES or 8 + n > size:
                raise ValueError(f"header length {n} is impossible for a {size}-byte file")
            header = json.loads(f.read(n).decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise TrainerError("INVALID_MODEL", f"{path}: not a valid safetensors file ({e})") from None
    metadata = header.pop("__metadata__", None) or {}
    infos = []
    for name, h in header.items():
        try:
            dtype, shape, (b, e) = h["dtype"], tuple(int(d) for d in h["shape"]), h["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise TrainerError("INVALID_MODEL", f"{path}: malformed header entry for tensor {name}") from None
        if dtype not in ITEMSIZE:
            raise TrainerError("INVALID_MODEL", f"{path}: tensor {name} has unsupported dtype {dtype}")
        numel = 1
        for d in shape:
            numel *= d
        if e - b != numel * ITEMSIZE[dtype] or b < 0 or 8 + n + e > size:
            raise TrainerError("INVALID_MODEL", f"{path}: tensor {name} has inconsistent data offsets")
        infos.append(TensorInfo(name, dtype, shape, path, 8 + n + b, 8 + n + e))
    return metadata, infos


def load_tensors(infos: list[TensorInfo]) -> dict:
    """Reads the given tensors into writable CPU memory (no mmap: torch warns on read-only buffers)."""
    import torch

    out = {}
    by_file: dict[str, list[TensorInfo]] = {}
    for info in infos:
        by_file.setdefault(info.file, []).append(info)
    for path, items in by_file.items():
        with open(path, "rb") as f:
            for info in sorted(items, key=lambda i: i.begin):
                buf = bytearray(info.end - info.begin)
                f.seek(info.begin)
                if f.readinto(buf) != len(buf):
                    raise TrainerError("INVALID_MODEL", f"{path}: truncated data for tensor {info.name}")
                dtype = _torch_dtypes()[info.dtype]
                t = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
                out[info.name] = t.reshape(info.shape)
    return out


def load_file(path: str) -> dict:
    return load_tensors(read_header(path)[1])


def save_file(tensors: dict, path: str, metadata: dict[str, str] | None = None) -> None:
    """Writes one file atomically (temporary name + rename) in sorted name order."""
    import torch

    names = {v: k for k, v in _torch_dtypes().items()}
    header: dict = {"__metadata__": {"format": "pt", **(metadata or {})}}
    prepared, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        if t.dtype not in names:
            raise ValueError(f"cannot store dtype {t.dtype} of {name} in safetensors")
        nbytes = t.numel() * t.element_size()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + nbytes]}
        prepared.append(t)
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # pad so tensor data starts 8-byte aligned
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for t in prepared:
            if t.numel():
                arr = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy()
                arr.tofile(f)
    os.replace(tmp, path)


def folder_tensor_infos(folder: str) -> dict[str, TensorInfo]:
    """Names → infos of a model folder: single `model.safetensors` or an index + shards."""
    index = os.path.join(folder, INDEX_FILE)
    if os.path.isfile(index):
        try:
            with open(index, encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise TrainerError("INVALID_MODEL", f"{index}: unreadable index ({e})") from None
        files = sorted(set(weight_map.values()))
    elif os.path.isfile(os.path.join(folder, SINGLE_FILE)):
        weight_map, files = None, [SINGLE_FILE]
    else:
        found = sorted(n for n in os.listdir(folder) if n.endswith(".safetensors")) if os.path.isdir(folder) else []
        if len(found) != 1:
            raise TrainerError("MISSING_WEIGHTS", f"{folder} has no {SINGLE_FILE} or {INDEX_FILE}")
        weight_map, files = None, found
    infos: dict[str, TensorInfo] = {}
    for name in files:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise TrainerError("MISSING_WEIGHTS", f"{folder}: shard {name} listed in {INDEX_FILE} is missing")
        for info in read_header(path)[1]:
            if info.name in infos:
                raise TrainerError("INVALID_MODEL", f"{folder}: tensor {info.name} appears in two files")
            infos[info.name] = info
    if weight_map is not None:
        for name, file in weight_map.items():
            if name not in infos or os.path.basename(infos[name].file) != file:
                raise TrainerError("MISSING_TENSOR", f"{folder}: tensor {name} is not in {file} as the index says")
    return infos


def load_folder(folder: str) -> dict:
    return load_tensors(list(folder_tensor_infos(folder).values()))


def save_folder(tensors: dict, folder: str, max_shard_bytes: int = 2 * 1024**3) -> list[str]:
    """Writes `model.safetensors`, or shards + index when the tensors exceed one shard.

    Tensors go to shards in name order, each shard filled up to `max_shard_bytes` (a
    tensor larger than that gets a shard of its own), like transformers' save_pretrained.
    """
    os.makedirs(folder, exist_ok=True)
    shards: list[dict] = [{}]
    size = total = 0
    for name in sorted(tensors):
        nbytes = tensors[name].numel() * tensors[name].element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = tensors[name]
        size += nbytes
        total += nbytes
    for stale in (SINGLE_FILE, INDEX_FILE):
        if os.path.exists(os.path.join(folder, stale)):
            os.remove(os.path.join(folder, stale))
    if len(shards) == 1:
        save_file(shards[0], os.path.join(folder, SINGLE_FILE))
        return [SINGLE_FILE]
    names, weight_map = [], {}
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, os.path.join(folder, file))
        names.append(file)
        weight_map.update({n: file for n in shard})
    tmp = os.path.join(folder, INDEX_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(folder, INDEX_FILE))
    return names + [INDEX_FILE]
