"""`train` command: process-level concerns around the recipe — signals, the event
channel, error → `failed` event mapping, exit codes (PROTOCOL.md § Exit codes).

torch is imported only after the spec, model folder and shards passed preflight, so a
bad job fails in a fraction of a second.
"""
from __future__ import annotations

import os
import signal
import sys
import traceback

from .disk_full import MESSAGE as DISK_FULL_MESSAGE
from .disk_full import is_disk_full, remove_partial_files
from .errors import TrainerError
from .events import NullLogger, open_events
from .preflight import preflight
from .spec import load_spec

EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PARENT_GONE = 74  # EX_IOERR: the event pipe closed; no checkpoint, no events
EXIT_STOPPED = 75  # EX_TEMPFAIL: stopped by SIGTERM/SIGINT after a checkpoint; --resume continues


class _Signals:
    """SIGTERM / SIGINT only raise a flag: the loop stops at the next step boundary."""

    def __init__(self):
        self.reason: str | None = None
        signal.signal(signal.SIGTERM, self._on)
        signal.signal(signal.SIGINT, self._on)

    def _on(self, signum, _frame):
        self.reason = self.reason or ("sigterm" if signum == signal.SIGTERM else "sigint")

    def __call__(self) -> str | None:
        return self.reason


def run_train_command(spec_path: str, events_fd: int | None, resume: bool) -> int:
    signals = _Signals()
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    log = open_events(events_fd) if rank == 0 else NullLogger()
    recipe = d = spec = outcome = None
    try:
        spec = load_spec(spec_path)
        prepared = preflight(spec, world)
        import torch

        from .distributed import Dist
        from .recipe import Recipe

        d = Dist()
        d.init(spec.runtime.device == "cuda" or (spec.runtime.device == "auto" and torch.cuda.is_available()))
        recipe = Recipe(spec, prepared, log, d, resume, signals)
        recipe.setup()
        outcome = recipe.train()
        if outcome == "stopped":
            return EXIT_STOPPED
        if outcome == "parent_gone":
            return EXIT_PARENT_GONE
        outputs = recipe.save_outputs()
        log.log(
            "completed",
            outputs=outputs,
            step=recipe.step,
            tokens=recipe.tokens,
            earlyStopped=outcome == "early_stopped",
            bestEvalLoss=recipe.best_eval,
        )
        return EXIT_COMPLETED
    except TrainerError as e:
        return _fail(log, e.code, e.message, recipe)
    except Exception as e:  # noqa: BLE001 — every failure ends with a `failed` event
        from .device import is_oom

        if spec is not None and is_disk_full(e, spec.checkpoints_dir):
            if rank == 0:
                remove_partial_files(spec.checkpoints_dir, spec.output_dir)
            what = "the outputs" if outcome is not None else "a checkpoint"
            return _fail(log, "DISK_FULL", DISK_FULL_MESSAGE.format(what=what), recipe)
        if is_oom(e):
            return _fail(
                log,
                "OUT_OF_MEMORY",
                "out of memory; lower hyperparameters.microBatchSize or maxSeqLength, "
                "or set hyperparameters.gradientCheckpointing",
                recipe,
            )
        if os.environ.get("TUNELOOP_DEBUG"):
            traceback.print_exc()
        return _fail(log, "INTERNAL", f"{type(e).__name__}: {e}", recipe)
    finally:
        if recipe is not None:
            recipe.cleanup()
        else:
            log.close()
            if d is not None:
                d.close()


def _fail(log, code: str, message: str, recipe) -> int:
    message = " ".join(str(message).split())
    step = recipe.step if recipe is not None and recipe.started else None
    log.log("failed", code=code, message=message, step=step)
    print(f"error: {code}: {message}", file=sys.stderr)
    return EXIT_FAILED
