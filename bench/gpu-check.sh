#!/usr/bin/env bash
# The trainer's GPU checks, as one prepared script for a machine with an NVIDIA GPU:
#   1. the CUDA variants of the trainer tests (SDPA, bf16 autocast, fused AdamW,
#      torch.compile, gradient checkpointing, DPO in bf16) and the parity tests against
#      transformers / PEFT on the same weights (skipped where transformers is absent);
#   2. the CPU-independent model tests again on this machine's torch (≥ 2: SDPA path);
#   3. the throughput benchmark in bf16: small, base and a ~1B model, SFT and DPO;
#   4. quantized decoding of a ~460M model (bench/gpu-quantization.py): float32, INT8 and
#      INT4 exports on onnxruntime's CUDA provider, decode tok/s at 1 and 8 streams. It
#      fails (status 1, one line naming what is missing: onnx, onnxruntime's CUDA provider,
#      a layer that ran off the GPU) rather than print CPU figures as GPU ones.
# Prints figures; never asserts timings. Exits 0 with a message where there is no GPU.
#
#   bash bench/gpu-check.sh            # everything (≈ 5 min on an H100)
#   GPU_CHECK_QUICK=1 bash bench/gpu-check.sh   # tests only
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA GPU here (nvidia-smi absent or failing); nothing to check."
  exit 0
fi

PY="${TUNELOOP_PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3 /usr/bin/python3 python; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
      PY="$c"; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "gpu-check: a GPU is present but no python has a CUDA-enabled torch (set TUNELOOP_PYTHON); nothing to check."
  exit 0
fi

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" - <<'EOF'
import importlib, torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, device {torch.cuda.get_device_name()}")
for mod in ("transformers", "peft", "onnx", "onnxruntime"):
    try:
        print(f"{mod} {importlib.import_module(mod).__version__}")
    except Exception:
        print(f"{mod}: absent")
EOF

status=0
echo "== trainer tests: CUDA variants, transformers/PEFT parity, model tests on this torch"
(cd trainer && "$PY" -m pytest -q -p no:cacheprovider -rs tests/test_cuda.py tests/test_hf_parity.py tests/test_model.py tests/test_lora.py tests/test_data.py tests/test_dpo.py) || status=1

if [ -z "${GPU_CHECK_QUICK:-}" ]; then
  echo "== throughput (bf16, seq 2048, 16 rows/step in micro-batches of 8)"
  "$PY" "$root/bench/trainer-throughput.py" --device cuda --sizes small,base,1b --dtype bf16 --steps 3 --warmup 2 || status=1
  echo "== throughput, 1B full fine-tuning with torch.compile"
  "$PY" "$root/bench/trainer-throughput.py" --device cuda --sizes 1b --methods full --dtype bf16 --compile --steps 3 --warmup 3 || status=1
  echo "== quantized decoding (~460M model, onnxruntime CUDA provider: NONE / INT8 / INT4)"
  "$PY" "$root/bench/gpu-quantization.py" || status=1
fi
echo "gpu-check: done (status $status)"
exit $status
