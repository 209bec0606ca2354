#!/usr/bin/env python3
"""A randomly initialised model, trained briefly on plain text by the real trainer, so that
bench/inference-throughput.ts measures quantization on weights with structure (a random
model's perplexity is its vocabulary size whatever its precision: nothing to compare).

  /usr/bin/python3 bench/text-model.py BASE_DIR TEXT_FILE OUT_DIR [--epochs N] [--seq 128]

The text is tokenized with the init-model tokenizer (the trainer's reference encoder),
cut into rows of `--seq` tokens, written as a token shard (FORMAT.md) and trained on with
`train` (full fine-tuning, ONNX export on). Prints one JSON object: the fine-tuned folder,
tokens, steps and the last training loss. OUT_DIR/model is a complete model folder.
"""
import argparse
import json
import os
import subprocess
import sys

TRAINER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer")
sys.path.insert(0, TRAINER_DIR)

from tuneloop_trainer.shard import write_shard  # noqa: E402
from tuneloop_trainer.tokenizer_build import encode  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("base")
    p.add_argument("text")
    p.add_argument("out")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--seq", type=int, default=128)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(args.text, encoding="utf-8") as f:
        ids = encode(f.read())
    rows = [ids[i : i + args.seq] for i in range(0, len(ids) - args.seq + 1, args.seq)]
    shard = os.path.join(args.out, "train.tlshard")
    write_shard(shard, [(r, [1] * len(r)) for r in rows])
    spec = {
        "version": 1,
        "jobId": "ftjob_bench_text",
        "model": {"path": os.path.abspath(args.base)},
        "method": "full",
        "data": {"train": shard, "validation": None},
        "hyperparameters": {
            "epochs": args.epochs,
            "batchSize": 8,
            "learningRate": 1e-3,
            "warmupSteps": 10,
            "maxSeqLength": args.seq,
            "seed": 0,
        },
        "checkpoints": {"dir": os.path.join(args.out, "checkpoints"), "every": 0, "keep": 1},
        "output": {"dir": args.out, "mergeLora": False, "exportOnnx": True},
        "runtime": {"device": "cpu", "dtype": "auto"},
    }
    spec_path = os.path.join(args.out, "spec.json")
    with open(spec_path, "w", encoding="utf-8") as f:
        json.dump(spec, f)
    r, w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuneloop_trainer", "train", "--spec", spec_path, "--events-fd", str(w)],
        pass_fds=(w,),
        cwd=TRAINER_DIR,
        env={**os.environ, "PYTHONPATH": TRAINER_DIR},
    )
    os.close(w)
    events = []
    with os.fdopen(r, encoding="utf-8") as stream:
        for line in stream:
            events.append(json.loads(line))
            if events[-1]["type"] == "step" and events[-1]["step"] % 20 == 0:
                print(f"text-model: step {events[-1]['step']} loss {events[-1]['loss']:.3f}", file=sys.stderr)
    if proc.wait() != 0 or events[-1]["type"] != "completed":
        print(f"text-model: training failed: {events[-1] if events else 'no events'}", file=sys.stderr)
        return 1
    steps = [e for e in events if e["type"] == "step"]
    print(
        json.dumps(
            {
                "model": os.path.join(args.out, "model"),
                "tokens": len(ids),
                "rows": len(rows),
                "steps": len(steps),
                "loss": steps[-1]["loss"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
