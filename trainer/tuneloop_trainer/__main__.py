"""Command line: `python3 -m tuneloop_trainer <command> ...` (see README.md, PROTOCOL.md).

Every usage error exits 2 with one line on stderr; every other failure exits 1 with one
line (`error: CODE: message`); no tracebacks reach the user unless TUNELOOP_DEBUG=1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from . import __version__
from .errors import TrainerError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + exits 2 by default)
        print(f"usage error: {self.prog}: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tuneloop_trainer", description="Tuneloop fine-tuning trainer")
    p.add_argument("--version", action="version", version=__version__)
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    t = sub.add_parser("train", help="run a training job from a spec (events on --events-fd)")
    t.add_argument("--spec", required=True, help="job spec JSON file (PROTOCOL.md)")
    t.add_argument(
        "--events-fd", type=int, default=None, help="file descriptor to write JSONL events to (default: stderr)"
    )
    t.add_argument("--resume", action="store_true", help="continue from the newest checkpoint, if any")
    i = sub.add_parser("init-model", help="write a randomly initialised model folder")
    i.add_argument("--size", required=True, choices=("tiny", "small", "base"))
    i.add_argument("--out", required=True)
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--arch", default="llama", choices=("llama", "qwen2", "mistral"))
    i.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    e = sub.add_parser("export-onnx", help="export a model folder to ONNX with a KV cache")
    e.add_argument("--model", required=True)
    e.add_argument(
        "--out", default=None, help="output folder (default: MODEL/onnx, or MODEL/onnx-lora-… with --lora-targets)"
    )
    e.add_argument(
        "--lora-targets",
        default=None,
        help="comma-separated modules (q_proj,…) that take LoRA factors as inputs: one graph for every adapter",
    )
    e.add_argument(
        "--weights", default=None, help="a full fine-tuning checkpoint (step-N/) whose weights replace the model's"
    )
    e.add_argument(
        "--adapter",
        action="append",
        default=[],
        dest="adapters",
        help="a LoRA checkpoint (step-N/) or PEFT folder merged into the weights (repeatable, in order)",
    )
    q = sub.add_parser("quantize-onnx", help="rewrite an ONNX export's linear layers to 4- or 8-bit MatMulNBits")
    q.add_argument("--onnx", required=True, help="folder of the fp32 export (model.onnx, tuneloop-onnx.json)")
    q.add_argument("--bits", type=int, required=True, choices=(4, 8))
    q.add_argument("--out", default=None, help="output folder (default: ONNX-int<bits> beside it)")
    q.add_argument("--block-size", type=int, default=None, help="inputs per block (default: 32 for 4 bits, 128 for 8)")
    q.add_argument(
        "--zero-point",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="blocks with zero points, or symmetric ones (default: zero points for 4 bits, symmetric for 8)",
    )
    q.add_argument(
        "--accuracy-level", type=int, default=None, help="onnxruntime accuracy_level (default 4: int8 compute)"
    )
    q.add_argument("--lm-head-bits", default=None, choices=("4", "8", "none"), help="LM head precision (default 8)")
    n = sub.add_parser("inspect-model", help="print one JSON object describing a model folder")
    n.add_argument("model")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        print(
            "usage error: tuneloop_trainer: a command is required"
            " (train, init-model, export-onnx, quantize-onnx, inspect-model)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.command == "train":
        from .runner import run_train_command

        return run_train_command(args.spec, args.events_fd, args.resume)
    try:
        if args.command == "init-model":
            from .init_model import init_model

            info = init_model(args.size, os.path.abspath(args.out), args.seed, args.arch, args.dtype)
            print(json.dumps(info))
        elif args.command == "export-onnx":
            from .device import configure_threads
            from .onnx_export import export_model_folder

            configure_threads(None)
            print(
                json.dumps(
                    {
                        "onnx": export_model_folder(
                            os.path.abspath(args.model),
                            args.out and os.path.abspath(args.out),
                            weights=args.weights and os.path.abspath(args.weights),
                            adapters=[os.path.abspath(a) for a in args.adapters],
                            lora_targets=args.lora_targets.split(",") if args.lora_targets is not None else None,
                        )
                    }
                )
            )
        elif args.command == "quantize-onnx":
            from .onnx_quantize import quantize_export, recipe

            config = recipe(args.bits, args.block_size, args.zero_point, args.accuracy_level, args.lm_head_bits)
            out = args.out and os.path.abspath(args.out)
            print(json.dumps(quantize_export(os.path.abspath(args.onnx), out, config)))
        elif args.command == "inspect-model":
            from .model_folder import inspect_model

            print(json.dumps(inspect_model(os.path.abspath(args.model))))
        return EXIT_OK
    except TrainerError as e:
        print(f"error: {e.code}: {e.message}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as e:  # noqa: BLE001 — one line for the user, traceback on request
        if os.environ.get("TUNELOOP_DEBUG"):
            raise
        print(f"error: INTERNAL: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
