"""quantize-onnx: the block quantizer's numbers, its bit layout (onnxruntime's MatMulNBits
contract), and the command on a real export. That onnxruntime runs the result and answers
like the fp32 graph is checked from TypeScript (test/inference/quantized.test.ts)."""
import hashlib
import json
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import make_model_dir, micro_config, run_cli
from tuneloop_trainer.onnx_quantize import QuantConfig, dequantize_weight, quantize_matmuls, quantize_weight


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("k", [64, 70])  # 70: the last block is padded
def test_round_trip_error_is_within_half_a_step(bits, symmetric, k):
    w = np.random.default_rng(0).normal(0, 0.02, (k, 24)).astype(np.float32)
    b, scales, zp = quantize_weight(w, bits, 32, symmetric)
    k_blocks = -(-k // 32)
    assert b.shape == (24, k_blocks, 32 * bits // 8) and b.dtype == np.uint8
    assert scales.shape == (24, k_blocks) and scales.dtype == np.float32
    if symmetric:
        assert zp is None
    else:
        assert zp.dtype == np.uint8 and zp.shape == (24, -(-k_blocks * bits // 8))
    back = dequantize_weight(b, scales, zp, bits, 32, k)
    assert back.shape == w.shape
    step = np.repeat(np.abs(scales), 32, axis=1)[:, :k].T  # each weight's block scale, (K, N)
    err = np.abs(back - w)
    if symmetric:
        # The extreme maps exactly to -2^(bits-1); its opposite may clip by one step.
        assert np.all(err <= step * 1.0 + 1e-7)
        assert np.mean(err <= step / 2 + 1e-7) > 0.99
    else:
        assert np.all(err <= step / 2 + 1e-7)
    rel = np.linalg.norm(back - w) / np.linalg.norm(w)
    assert rel < (0.12 if bits == 4 else 0.008)


def test_codes_are_packed_low_bits_first_along_k():
    # One output, one block of 16: w_k = k - 8 → symmetric codes k (the extreme, -8, is code 0).
    w = (np.arange(16, dtype=np.float32) - 8).reshape(16, 1)
    b, scales, zp = quantize_weight(w, 4, 16, True)
    assert scales[0, 0] == 1.0 and zp is None
    assert list(b[0, 0]) == [(2 * i) | ((2 * i + 1) << 4) for i in range(8)]
    b8, _, _ = quantize_weight(w * 16, 8, 16, True)
    assert list(b8[0, 0]) == [128 + 16 * (i - 8) for i in range(16)]
    # Zero points: 4-bit ones two per byte, the first block in the low nibble.
    w2 = np.concatenate([np.linspace(0, 15, 16), np.linspace(-15, 0, 16)]).astype(np.float32).reshape(32, 1)
    _, s2, zp2 = quantize_weight(w2, 4, 16, False)
    assert list(s2[0]) == [1.0, 1.0] and list(zp2[0]) == [0 | (15 << 4)]


def test_all_zero_blocks_stay_zero():
    w = np.zeros((32, 3), np.float32)
    for symmetric in (True, False):
        b, scales, zp = quantize_weight(w, 4, 32, symmetric)
        assert np.all(dequantize_weight(b, scales, zp, 4, 32, 32) == 0)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """A micro llama and a qwen2 (tied embeddings, q/k/v biases) exported by the real CLI."""
    out = {}
    for arch in ("llama", "qwen2"):
        d = make_model_dir(str(tmp_path_factory.mktemp(arch) / "model"), micro_config(arch))
        r = run_cli("export-onnx", "--model", d)
        assert r.returncode == 0, r.stderr
        out[arch] = os.path.join(d, "onnx")
    return out


def _io(model):
    def sig(values):
        return [(v.name, v.type.tensor_type.elem_type, len(v.type.tensor_type.shape.dim)) for v in values]

    return sig(model.graph.input), sig(model.graph.output)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_quantize_onnx_rewrites_every_linear_layer_and_keeps_the_io(export, arch, tmp_path):
    src = export[arch]
    fp32 = onnx.load(os.path.join(src, "model.onnx"))
    linears = [
        n for n in fp32.graph.node if n.op_type == "MatMul" and n.input[1] in {t.name for t in fp32.graph.initializer}
    ]
    c = micro_config(arch)
    # per layer q|k|v, o, gate|up and down (onnx_graph.py fuses q, k, v and gate, up), and the LM head
    assert len(linears) == 4 * c.num_hidden_layers + 1

    out = tmp_path / "int4"
    r = run_cli("quantize-onnx", "--onnx", src, "--bits", "4", "--out", str(out))
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    assert printed["onnx"] == str(out / "model.onnx")
    q = onnx.load(str(out / "model.onnx"))
    assert _io(q) == _io(fp32), "inputs, outputs and the KV-cache layout must not change"
    assert any(o.domain == "com.microsoft" for o in q.opset_import)
    nbits = [n for n in q.graph.node if n.op_type == "MatMulNBits"]
    assert len(nbits) == len(linears)
    inits = {t.name: t for t in q.graph.initializer}
    assert not [n for n in q.graph.node if n.op_type == "MatMul" and n.input[1] in inits]
    for node in nbits:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        head = node.output[0] == linears[-1].output[0]
        assert attrs["bits"] == (8 if head else 4) and attrs["block_size"] == 32 and attrs["accuracy_level"] == 4
        assert node.domain == "com.microsoft" and len(node.input) == 4  # 4 bits: zero points by default
        b, zp = inits[node.input[1]], inits[node.input[3]]
        k_blocks = -(-attrs["K"] // 32)
        assert list(b.dims) == [attrs["N"], k_blocks, 32 * attrs["bits"] // 8]
        assert (
            list(zp.dims) == [attrs["N"], -(-k_blocks * attrs["bits"] // 8)] and zp.data_type == onnx.TensorProto.UINT8
        )
    # The embedding stays float32 (a row lookup reads one row a token), and no fp32 copy of a
    # rewritten weight is left behind.
    scales = {n.input[2] for n in nbits}
    float_matrices = {t.name for t in q.graph.initializer if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 2}
    gathered = {n.input[0] for n in q.graph.node if n.op_type == "Gather"}
    assert len(float_matrices - scales) == 1 and float_matrices - scales <= gathered

    meta = json.load(open(out / "tuneloop-onnx.json"))
    fp32_meta = json.load(open(os.path.join(src, "tuneloop-onnx.json")))
    # The export records what its weights take (deployments report it); the graph agrees.
    fp32_bytes = sum(len(t.raw_data) for t in fp32.graph.initializer)
    assert abs(fp32_meta["weight_bytes"] - fp32_bytes) < 0.02 * fp32_bytes
    assert {k: v for k, v in meta.items() if k != "quantization"} == fp32_meta
    qm = meta["quantization"]
    assert qm["bits"] == 4 and qm["block_size"] == 32 and not qm["symmetric"] and qm["lmHead"] == "int8"
    assert qm["layers"] == len(linears)
    data = open(out / "model.onnx", "rb").read()
    assert qm["files"] == {"model.onnx": {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}}
    assert qm["source"]["bytes"] == os.path.getsize(os.path.join(src, "model.onnx"))
    assert qm["quantizedWeightBytes"] < qm["floatWeightBytes"] / 4
    assert qm["weightBytes"] == sum(len(t.raw_data) for t in q.graph.initializer)


def _attrs(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def test_quantize_onnx_defaults_per_width_and_options(export, tmp_path):
    src = export["llama"]
    # 8 bits by default: symmetric blocks of 128, into the folder beside the export.
    r = run_cli("quantize-onnx", "--onnx", src, "--bits", "8")
    assert r.returncode == 0, r.stderr
    out = src + "-int8"
    assert json.loads(r.stdout)["onnx"] == os.path.join(out, "model.onnx")
    nbits = [n for n in onnx.load(os.path.join(out, "model.onnx")).graph.node if n.op_type == "MatMulNBits"]
    assert {(_attrs(n)["bits"], _attrs(n)["block_size"], len(n.input)) for n in nbits} == {(8, 128, 3)}
    # Every option spelled out.
    r = run_cli(
        "quantize-onnx", "--onnx", src, "--bits", "4", "--out", str(tmp_path / "o"), "--block-size", "16",
        "--no-zero-point", "--accuracy-level", "0", "--lm-head-bits", "none",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    q = onnx.load(str(tmp_path / "o" / "model.onnx"))
    nbits = [n for n in q.graph.node if n.op_type == "MatMulNBits"]
    assert {(_attrs(n)["bits"], _attrs(n)["block_size"], _attrs(n)["accuracy_level"], len(n.input)) for n in nbits} == {
        (4, 16, 0, 3)
    }
    assert [n.op_type for n in q.graph.node if "lm_head" in n.name] == ["MatMul"]


def test_a_shared_weight_is_quantized_once():
    w = numpy_helper.from_array(np.random.default_rng(1).normal(size=(32, 8)).astype(np.float32), "W")
    nodes = [onnx.helper.make_node("MatMul", ["x", "W"], [f"y{i}"]) for i in range(2)]
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 32])
    ys = [onnx.helper.make_tensor_value_info(f"y{i}", onnx.TensorProto.FLOAT, [1, 8]) for i in range(2)]
    model = onnx.helper.make_model(onnx.helper.make_graph(nodes, "g", [x], ys, [w]))
    stats = quantize_matmuls(model, QuantConfig(bits=4, symmetric=True, lm_head_bits=None))
    assert stats.layers == 2 and stats.lm_head == "float32"
    assert sorted(t.name for t in model.graph.initializer) == ["W.q4.B", "W.q4.scales"]
    assert {n.input[1] for n in model.graph.node} == {"W.q4.B"}


def test_quantize_onnx_refuses_what_it_cannot_use(export, tmp_path):
    r = run_cli("quantize-onnx", "--onnx", str(tmp_path / "nowhere"), "--bits", "4")
    assert r.returncode == 1 and r.stderr.startswith("error: MODEL_NOT_FOUND:")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "model.onnx").write_bytes(open(os.path.join(export["llama"], "model.onnx"), "rb").read()[:5000])
    r = run_cli("quantize-onnx", "--onnx", str(damaged), "--bits", "4")
    assert r.returncode == 1 and r.stderr.startswith("error: INVALID_ONNX:") and "not a readable ONNX model" in r.stderr
    assert not (tmp_path / "damaged-int4").exists()
    once = tmp_path / "once"
    assert run_cli("quantize-onnx", "--onnx", export["llama"], "--bits", "4", "--out", str(once)).returncode == 0
    r = run_cli("quantize-onnx", "--onnx", str(once), "--bits", "8")
    assert r.returncode == 1 and "already quantized" in r.stderr
    r = run_cli("quantize-onnx", "--onnx", export["llama"], "--bits", "4", "--block-size", "24")
    assert r.returncode == 1 and "power of two" in r.stderr
    r = run_cli("quantize-onnx", "--onnx", export["llama"], "--bits", "3")
    assert r.returncode == 2 and r.stderr.startswith("usage error:")
