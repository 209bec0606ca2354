"""Weight-only block quantization of an ONNX export (PROTOCOL.md § Quantized ONNX exports).

The pass rewrites every `MatMul(x, W)` whose W is a constant float32 [K, N] initializer
into onnxruntime's `com.microsoft.MatMulNBits(x, B, scales[, zero_points])`: W is cut
into blocks of `block_size` inputs per output, each block stored as `bits`-bit codes with
one float32 scale (and, unless symmetric, one zero point). Inputs, outputs and the
KV-cache layout stay exactly those of the fp32 graph, so the runtime needs no change.
Activations stay float32; `accuracy_level` tells onnxruntime how it may compute (4 =
quantize each activation block to int8 and use integer dot products).

`quantize_matmuls` is a pure graph pass over any `ModelProto` — it touches only MatMuls
whose right operand is an initializer, so a graph that feeds other weights as inputs
(LoRA factors, say) keeps those in float. `quantize_export` is the file-level step the
service runs once per model and quantization, writing a folder beside the fp32 export.

Written against the contrib-op contract of onnxruntime's MatMulNBits: B is uint8 of
shape (N, k_blocks, block_size * bits / 8), codes packed low bits first along K; scales
(N, k_blocks) in A's type; zero points packed the same way as B, shape
(N, ceil(k_blocks * bits / 8)), default 2^(bits - 1) when absent. Hand-written with
numpy because onnxruntime's own quantizer is not packaged for Debian (no pip here).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass

import numpy as np

from .errors import TrainerError

META_FILE = "tuneloop-onnx.json"
MS_DOMAIN = "com.microsoft"
# onnx's protobuf limit is 2 GB; stay clear of it and spill weights to one data file.
EXTERNAL_DATA_ABOVE = 1_800_000_000


@dataclass(frozen=True)
class QuantConfig:
    """One quantization recipe (`recipe` fills in the defaults for a bit width)."""

    bits: int = 4
    block_size: int = 32
    symmetric: bool = False
    # 0: compute with float activations; 4: activations quantized to int8 per block.
    accuracy_level: int = 4
    # Bits of the LM head (the last MatMul before `logits`); None keeps it float32.
    lm_head_bits: int | None = 8

    def check(self) -> None:
        if self.bits not in (4, 8):
            raise TrainerError("INVALID_SPEC", f"bits must be 4 or 8, got {self.bits}")
        bs = self.block_size
        if bs < 16 or bs & (bs - 1):
            raise TrainerError("INVALID_SPEC", f"block size must be a power of two ≥ 16, got {bs}")
        if self.accuracy_level not in (0, 1, 2, 3, 4):
            raise TrainerError("INVALID_SPEC", f"accuracy level must be 0–4, got {self.accuracy_level}")
        if self.lm_head_bits not in (None, 4, 8):
            raise TrainerError("INVALID_SPEC", f"LM head bits must be 4, 8 or none, got {self.lm_head_bits}")


# Defaults per bit width: what the service deploys (RECIPES in src/inference/quantized-export.ts,
# which says why; chosen with bench/inference-throughput.ts --recipes, figures in docs/inference.md).
DEFAULTS = {
    4: dict(block_size=32, symmetric=False, accuracy_level=4, lm_head_bits=8),
    8: dict(block_size=128, symmetric=True, accuracy_level=4, lm_head_bits=8),
}


def recipe(
    bits: int,
    block_size: int | None = None,
    zero_point: bool | None = None,
    accuracy_level: int | None = None,
    lm_head_bits: str | int | None = None,
) -> QuantConfig:
    """The recipe for `bits`, its defaults filled in for every option left None (the command line's)."""
    if bits not in DEFAULTS:
        raise TrainerError("INVALID_SPEC", f"bits must be 4 or 8, got {bits}")
    d = DEFAULTS[bits]
    head = d["lm_head_bits"] if lm_head_bits is None else None if lm_head_bits == "none" else int(lm_head_bits)
    return QuantConfig(
        bits=bits,
        block_size=d["block_size"] if block_size is None else block_size,
        symmetric=d["symmetric"] if zero_point is None else not zero_point,
        accuracy_level=d["accuracy_level"] if accuracy_level is None else accuracy_level,
        lm_head_bits=head,
    )


@dataclass
class QuantStats:
    layers: int = 0
    lm_head: str = "float32"
    float_weight_bytes: int = 0  # the fp32 weights that were replaced
    quantized_weight_bytes: int = 0  # codes + scales + zero points that replaced them
    weight_bytes: int = 0  # every initializer of the rewritten graph


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as e:
        raise TrainerError(
            "MISSING_DEPENDENCY",
            "quantizing needs the Python onnx package (Debian: apt-get install python3-onnx)",
        ) from e
    return onnx, numpy_helper


def _pack(codes: np.ndarray, bits: int) -> np.ndarray:
    """uint8 codes (..., n) → bytes (..., ceil(n * bits / 8)), low bits first."""
    if bits == 8:
        return codes.astype(np.uint8)
    if codes.shape[-1] % 2:
        codes = np.concatenate([codes, np.zeros(codes.shape[:-1] + (1,), np.uint8)], axis=-1)
    return (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)


def quantize_weight(w: np.ndarray, bits: int, block_size: int, symmetric: bool):
    """W [K, N] float → (B [N, k_blocks, blob] uint8, scales [N, k_blocks] f32, zero points or None).

    Round to nearest. Symmetric blocks map their largest-magnitude value to -2^(bits-1)
    exactly (the sign goes into the scale), so all 2^bits codes are used and the default
    zero point applies; asymmetric blocks span [min(w, 0), max(w, 0)].
    """
    k, n = w.shape
    k_blocks = -(-k // block_size)
    wt = np.ascontiguousarray(w.T, dtype=np.float32)  # (N, K)
    if k_blocks * block_size != k:
        wt = np.pad(wt, ((0, 0), (0, k_blocks * block_size - k)))
    blocks = wt.reshape(n, k_blocks, block_size)  # (N, kb, bs)
    if symmetric:
        half = 1 << (bits - 1)
        at = np.abs(blocks).argmax(axis=2)[..., None]
        scales = np.take_along_axis(blocks, at, axis=2)[..., 0] / -half  # (N, kb)
        safe = np.where(scales == 0, 1.0, scales)[..., None]
        codes = np.clip(np.rint(blocks / safe), -half, half - 1) + half
        zero_points = None
    else:
        levels = (1 << bits) - 1
        lo = np.minimum(blocks.min(axis=2), 0)
        hi = np.maximum(blocks.max(axis=2), 0)
        scales = (hi - lo) / levels
        safe = np.where(scales == 0, 1.0, scales)
        zp = np.clip(np.rint(-lo / safe), 0, levels)  # (N, kb)
        codes = np.clip(np.rint(blocks / safe[..., None]) + zp[..., None], 0, levels)
        zero_points = _pack(zp.astype(np.uint8), bits)
    return _pack(codes.astype(np.uint8), bits), scales.astype(np.float32), zero_points


def dequantize_weight(b, scales, zero_points, bits: int, block_size: int, k: int) -> np.ndarray:
    """The inverse of quantize_weight, back to W [K, N] (for tests and error figures)."""
    n, k_blocks, _ = b.shape
    if bits == 8:
        codes = b.astype(np.float32)
    else:
        codes = np.stack([b & 0xF, b >> 4], axis=-1).reshape(n, k_blocks, -1).astype(np.float32)
    if zero_points is None:
        zp = np.full((n, k_blocks), 1 << (bits - 1), np.float32)
    elif bits == 8:
        zp = zero_points.astype(np.float32)
    else:
        zp = np.stack([zero_points & 0xF, zero_points >> 4], axis=-1).reshape(n, -1)[:, :k_blocks].astype(np.float32)
    w = (codes - zp[..., None]) * scales[..., None]  # (N, kb, bs)
    return w.reshape(n, -1)[:, :k].T


def _lm_head(graph) -> str | None:
    """The MatMul that makes `logits` (through Cast/Identity), or None."""
    producer = {out: node for node in graph.node for out in node.output}
    name = "logits"
    for _ in range(8):
        node = producer.get(name)
        if node is None:
            return None
        if node.op_type == "MatMul":
            return node.name or node.output[0]
        if node.op_type not in ("Cast", "Identity"):
            return None
        name = node.input[0]
    return None


def quantize_matmuls(model, config: QuantConfig) -> QuantStats:
    """Rewrites `model` in place: every MatMul(x, float32 [K, N] initializer) → MatMulNBits."""
    onnx, numpy_helper = _onnx()
    config.check()
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    head = _lm_head(graph)
    stats = QuantStats()
    done: dict[tuple[str, int], list[str]] = {}  # a shared weight is quantized once
    nodes = []
    for node in graph.node:
        weight = inits.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        is_head = (node.name or node.output[0]) == head
        bits = config.lm_head_bits if is_head else config.bits
        if (
            weight is None
            or bits is None
            or weight.data_type != onnx.TensorProto.FLOAT
            or len(weight.dims) != 2
            or node.input[0] in inits
        ):
            nodes.append(node)
            continue
        k, n = (int(d) for d in weight.dims)
        key = (weight.name, bits)
        if key not in done:
            w = numpy_helper.to_array(weight)
            b, scales, zp = quantize_weight(w, bits, config.block_size, config.symmetric)
            base = f"{weight.name}.q{bits}"
            added = [numpy_helper.from_array(b, f"{base}.B"), numpy_helper.from_array(scales, f"{base}.scales")]
            if zp is not None:
                added.append(numpy_helper.from_array(zp, f"{base}.zero_points"))
            graph.initializer.extend(added)
            done[key] = [t.name for t in added]
            stats.float_weight_bytes += w.nbytes
            stats.quantized_weight_bytes += sum(a.nbytes for a in (b, scales, zp) if a is not None)
        nodes.append(
            onnx.helper.make_node(
                "MatMulNBits",
                [node.input[0], *done[key]],
                list(node.output),
                name=f"{node.name or node.output[0]}_Q{bits}",
                domain=MS_DOMAIN,
                K=k,
                N=n,
                bits=bits,
                block_size=config.block_size,
                accuracy_level=config.accuracy_level,
            )
        )
        uses[weight.name] -= 1
        stats.layers += 1
        if is_head:
            stats.lm_head = f"int{bits}"
    if stats.layers == 0:
        raise TrainerError("INVALID_ONNX", "the ONNX graph has no MatMul with a float32 weight to quantize")
    del graph.node[:]
    graph.node.extend(nodes)
    unused = {name for name, count in uses.items() if count == 0 and name in inits}
    kept = [t for t in graph.initializer if t.name not in unused]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    inputs = [i for i in graph.input if i.name not in unused]  # IR < 4 lists initializers as inputs
    del graph.input[:]
    graph.input.extend(inputs)
    if not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid(MS_DOMAIN, 1))
    stats.weight_bytes = sum(_tensor_bytes(t) for t in graph.initializer)
    return stats


def _tensor_bytes(t) -> int:
    if t.raw_data:
        return len(t.raw_data)
    for ext in t.external_data:
        if ext.key == "length":
            return int(ext.value)
    count = int(np.prod(t.dims)) if len(t.dims) else 1
    return count * {1: 4, 2: 1, 3: 1, 5: 2, 6: 4, 7: 8, 10: 2, 11: 8, 16: 2}.get(t.data_type, 4)


def _file_digest(path: str) -> dict:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"bytes": os.path.getsize(path), "sha256": h.hexdigest()}


def default_out_dir(onnx_dir: str, bits: int) -> str:
    """`<model>/onnx` → `<model>/onnx-int4` (beside the fp32 export)."""
    return f"{os.path.normpath(onnx_dir)}-int{bits}"


def quantize_export(onnx_dir: str, out_dir: str | None = None, config: QuantConfig | None = None) -> dict:
    """Quantizes `onnx_dir/model.onnx` into `out_dir` (atomically: a temp folder renamed).

    Writes model.onnx (+ model.onnx.data above ~1.8 GB) and tuneloop-onnx.json: the fp32
    export's description plus `quantization` — the recipe, what was rewritten, the source
    file's size and sha256, and every written file's size and sha256 (the service checks
    them before loading, so a damaged copy is refused rather than served).
    """
    onnx, _ = _onnx()
    config = config or recipe(4)
    config.check()
    src = os.path.join(onnx_dir, "model.onnx")
    if not os.path.isfile(src):
        raise TrainerError("MODEL_NOT_FOUND", f"no ONNX export at {src}")
    out_dir = os.path.abspath(out_dir or default_out_dir(onnx_dir, config.bits))
    meta_path = os.path.join(onnx_dir, META_FILE)
    meta = {}
    if os.path.isfile(meta_path):
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    try:
        model = onnx.load(src)
    except Exception as e:  # noqa: BLE001 — protobuf raises several types for a damaged file
        raise TrainerError("INVALID_ONNX", f"{src} is not a readable ONNX model: {e}") from e
    if any(o.domain == MS_DOMAIN for o in model.opset_import) and any(
        n.op_type == "MatMulNBits" for n in model.graph.node
    ):
        raise TrainerError("INVALID_ONNX", f"{src} is already quantized")
    stats = quantize_matmuls(model, config)

    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".onnx-quantize-", dir=parent)
    os.chmod(tmp, 0o755)
    try:
        path = os.path.join(tmp, "model.onnx")
        if stats.weight_bytes > EXTERNAL_DATA_ABOVE:
            onnx.save_model(
                model,
                path,
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location="model.onnx.data",
                size_threshold=1024,
            )
        else:
            onnx.save_model(model, path)
        files = {name: _file_digest(os.path.join(tmp, name)) for name in sorted(os.listdir(tmp))}
        meta["quantization"] = {
            "format": "MatMulNBits",
            **{k: v for k, v in asdict(config).items()},
            "layers": stats.layers,
            "lmHead": stats.lm_head,
            "floatWeightBytes": stats.float_weight_bytes,
            "quantizedWeightBytes": stats.quantized_weight_bytes,
            "weightBytes": stats.weight_bytes,
            "source": _file_digest(src),
            "files": files,
        }
        with open(os.path.join(tmp, META_FILE), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        try:
            os.rename(tmp, out_dir)
        except OSError:
            # Another process quantized the same export at the same time: keep its copy.
            if not os.path.isfile(os.path.join(out_dir, META_FILE)):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"onnx": os.path.join(out_dir, "model.onnx"), "quantization": meta["quantization"]}
