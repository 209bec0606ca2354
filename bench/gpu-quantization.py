#!/usr/bin/env python3
"""Quantized decoding on a GPU: a ~460M-parameter Llama-style model (random weights),
exported by the trainer and quantized by `quantize-onnx` with the service's INT8 and INT4
recipes (src/inference/quantized-export.ts), decoded by onnxruntime's CUDA provider.
Part of bench/gpu-check.sh (Node may be absent on GPU machines: this is Python).

  python3 bench/gpu-quantization.py [--work DIR] [--steps 64] [--rounds 3]

Prints, per quantization: ONNX bytes on disk, GPU memory the session holds, decode
tokens/s at 1 and 8 streams (rows decoded together, KV cache kept on the GPU through I/O
binding) and the ratio of each to float32. Exits 1 with one line saying what is missing —
onnx, onnxruntime's CUDA provider, or a quantized layer running anywhere but the GPU
(checked in an onnxruntime profile) — instead of printing CPU figures as GPU ones.
Random weights: speed and size only (perplexity needs a trained model; see
bench/inference-throughput.ts).
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TRAINER_DIR = os.path.join(HERE, "..", "trainer")
sys.path.insert(0, TRAINER_DIR)

# ~460M parameters: 22 layers of hidden 1280 and a 32k vocabulary, under the 2 GB an ONNX
# protobuf may hold in float32 (so the export and the quantizer need no external data).
CONFIG = dict(
    vocab_size=32000,
    hidden_size=1280,
    intermediate_size=3456,
    num_hidden_layers=22,
    num_attention_heads=20,
    num_key_value_heads=4,
    max_position_embeddings=2048,
)
# The service's recipes (src/inference/quantized-export.ts RECIPES), as quantize-onnx options.
RECIPES = {
    "INT8": ["--bits", "8", "--block-size", "128", "--no-zero-point", "--accuracy-level", "4", "--lm-head-bits", "8"],
    "INT4": ["--bits", "4", "--block-size", "32", "--zero-point", "--accuracy-level", "4", "--lm-head-bits", "8"],
}


def fail(message: str) -> None:
    print(f"gpu-quantization: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def trainer(*args: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "tuneloop_trainer", *args],
        cwd=TRAINER_DIR,
        env={**os.environ, "PYTHONPATH": TRAINER_DIR},
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        fail(f"trainer {args[0]}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    return r.stdout


def gpu_memory_mib() -> int:
    """GPU memory this process holds (nvidia-smi), MiB."""
    out = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
    ).stdout
    return sum(
        int(mem) for pid, mem in (line.split(", ") for line in out.strip().splitlines()) if int(pid) == os.getpid()
    )


def session(ort, path: str, profile: bool = False):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_profiling = profile
    s = ort.InferenceSession(path, so, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    if s.get_providers()[0] != "CUDAExecutionProvider":
        fail(f"{path}: the session did not get the CUDA provider ({s.get_providers()})")
    return s


def decode(ort, np, s, meta: dict, batch: int, steps: int, prompt_len: int = 32) -> float:
    """Tokens/s of `steps` greedy decode steps of `batch` rows; the cache never leaves the GPU."""
    layers, kv, hd, vocab = meta["num_layers"], meta["num_kv_heads"], meta["head_dim"], meta["vocab_size"]
    io = s.io_binding()
    ids = (np.arange(batch * prompt_len, dtype=np.int64).reshape(batch, prompt_len) * 37 + 11) % min(vocab, 1000)
    past = 0
    present = None
    t0 = 0.0
    for step in range(steps + 1):
        if step == 1:
            t0 = time.perf_counter()  # the prompt's pass is not decode
        seq = ids.shape[1]
        io.clear_binding_inputs()
        io.clear_binding_outputs()
        io.bind_cpu_input("input_ids", ids)
        io.bind_cpu_input("attention_mask", np.ones((batch, past + seq), np.int64))
        io.bind_cpu_input("position_ids", np.tile(np.arange(past, past + seq, dtype=np.int64), (batch, 1)))
        for i in range(layers):
            for j, kind in enumerate(("key", "value")):
                name = f"past_key_values.{i}.{kind}"
                if present is None:
                    io.bind_cpu_input(name, np.zeros((batch, kv, 0, hd), np.float32))
                else:
                    io.bind_ortvalue_input(name, present[1 + 2 * i + j])
        io.bind_output("logits", "cuda")
        for i in range(layers):
            io.bind_output(f"present.{i}.key", "cuda")
            io.bind_output(f"present.{i}.value", "cuda")
        s.run_with_iobinding(io)
        present = io.get_outputs()
        logits = present[0].numpy()  # (batch, seq, vocab): the next tokens need the host anyway
        ids = logits[:, -1, :].argmax(-1).astype(np.int64).reshape(batch, 1)
        past += seq
    return batch * steps / (time.perf_counter() - t0)


def check_placement(ort, np, path: str, meta: dict, quantized: bool) -> None:
    """Every matrix product of a profiled decode step must have run on the GPU."""
    s = session(ort, path, profile=True)
    decode(ort, np, s, meta, 1, 1)
    with open(s.end_profiling(), encoding="utf-8") as f:
        events = json.load(f)
    placed = {
        (e["args"]["op_name"], e["args"].get("provider"))
        for e in events
        if e.get("cat") == "Node"
        and e.get("args", {}).get("op_name") in ("MatMul", "MatMulNBits", "FusedMatMul", "Gemm")
    }
    if not placed:
        fail(f"{path}: the onnxruntime profile has no matrix-product events to check where the layers ran")
    if any(provider is None for _, provider in placed):
        fail(f"{path}: the onnxruntime profile does not say which provider ran each node; cannot check placement")
    if quantized and not any(op == "MatMulNBits" for op, _ in placed):
        fail(f"{path}: no MatMulNBits ran (onnxruntime rewrote or dropped the quantized layers)")
    elsewhere = sorted(f"{op} on {provider}" for op, provider in placed if provider != "CUDAExecutionProvider")
    if elsewhere:
        fail(f"{path}: {', '.join(elsewhere)} — not the CUDA provider (this build's CUDA kernels lack them)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--work", default=None, help="folder for the model and exports (default: a temp folder, removed)")
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    try:
        import numpy as np
        import onnx  # noqa: F401 — quantize-onnx needs it; fail here with a clear line
        import onnxruntime as ort
    except ImportError as e:
        fail(f"{e.name} is not installed (quantized exports need onnx, decoding needs onnxruntime with CUDA)")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        fail(f"onnxruntime {ort.__version__} has no CUDA provider here ({ort.get_available_providers()})")

    from tuneloop_trainer.config import ModelConfig
    from tuneloop_trainer.init_model import write_model_folder

    work = args.work or tempfile.mkdtemp(prefix="tuneloop-gpu-quant-")
    try:
        model = os.path.join(work, "model")
        if not os.path.isfile(os.path.join(model, "onnx", "model.onnx")):
            shutil.rmtree(model, ignore_errors=True)
            write_model_folder(ModelConfig(model_type="llama", bos_token_id=1021, eos_token_id=1023, **CONFIG), model)
            trainer("export-onnx", "--model", model)
        fp32 = os.path.join(model, "onnx")
        files = {"NONE": os.path.join(fp32, "model.onnx")}
        for name, options in RECIPES.items():
            out = f"{fp32}-{name.lower()}"
            if not os.path.isfile(os.path.join(out, "model.onnx")):
                trainer("quantize-onnx", "--onnx", fp32, "--out", out, *options)
            files[name] = os.path.join(out, "model.onnx")
        with open(os.path.join(fp32, "tuneloop-onnx.json"), encoding="utf-8") as f:
            meta = json.load(f)
        params = json.loads(trainer("inspect-model", model))["parameters"]
        print(
            f"gpu-quantization: {params / 1e6:.0f}M parameters, onnxruntime {ort.__version__},"
            f" {args.steps} decode steps, median of {args.rounds} rounds"
        )
        # Also starts CUDA (its context, cuBLAS) before any session's memory is measured.
        for name, path in files.items():
            check_placement(ort, np, path, meta, quantized=name != "NONE")
        figures = {}
        for name, path in files.items():
            before = gpu_memory_mib()
            s = session(ort, path)
            held = gpu_memory_mib() - before
            decode(ort, np, s, meta, 1, 4)  # warm-up: kernels, allocator
            one = statistics.median(decode(ort, np, s, meta, 1, args.steps) for _ in range(args.rounds))
            eight = statistics.median(decode(ort, np, s, meta, 8, args.steps) for _ in range(args.rounds))
            disk = sum(os.path.getsize(f) for f in glob.glob(os.path.join(os.path.dirname(path), "model.onnx*")))
            figures[name] = (disk, held, one, eight)
            del s
        base = figures["NONE"]
        for name, (disk, held, one, eight) in figures.items():
            print(
                f"  {name:<4}  on disk {disk / 1e6:8.1f} MB  GPU memory {held:6d} MiB"
                f"  1 stream {one:8.1f} tok/s ({one / base[2]:.2f}×)"
                f"  8 streams {eight:8.1f} tok/s ({eight / base[3]:.2f}×)"
            )
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
