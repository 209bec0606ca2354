"""`train` command: process-level concerns around the recipe — signals, the event
channel, error → `failed` event mapping, exit codes (PROTOCOL.md § Exit codes).
"""
from __future__ import annotations

import os
import signal
import sys
import traceback

import torch

from .device import is_oom
from .distributed import Dist
from .errors import TrainerError
from .events import NullLogger, open_events
from .recipe import Recipe
from .spec import load_spec

EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PARENT_GONE = 74  # EX_IOERR: the event pipe closed; checkpoint written, no events
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
    d = Dist()
    log = open_events(events_fd) if d.rank == 0 else NullLogger()
    recipe = None
    try:
        spec = load_spec(spec_path)
        d.init(spec.runtime.device == "cuda" or (spec.runtime.device == "auto" and torch.cuda.is_available()))
        recipe = Recipe(spec, log, d, resume, signals)
        recipe.setup()
        outcome = recipe.train()
        if outcome == "stopped":
            return EXIT_STOPPED
        if outcome == "parent_gone":
            return EXIT_PARENT_GONE
        outputs = recipe.save_outputs()
        log.log("completed", outputs=outputs, step=recipe.step, tokens=recipe.tokens,
                earlyStopped=outcome == "early_stopped", bestEvalLoss=recipe.best_eval)
        return EXIT_COMPLETED
    except TrainerError as e:
        return _fail(log, e.code, e.message, recipe)
    except Exception as e:  # noqa: BLE001 — every failure ends with a `failed` event
        if is_oom(e):
            return _fail(log, "OUT_OF_MEMORY", "out of memory; lower hyperparameters.microBatchSize or maxSeqLength, "
                                               "or set runtime.gradientCheckpointing", recipe)
        if os.environ.get("TUNELOOP_DEBUG"):
            traceback.print_exc()
        return _fail(log, "INTERNAL", f"{type(e).__name__}: {e}", recipe)
    finally:
        if recipe is not None:
            recipe.cleanup()
        else:
            log.close()
            d.close()


def _fail(log, code: str, message: str, recipe) -> int:
    message = " ".join(str(message).split())
    step = recipe.step if recipe is not None else None
    log.log("failed", code=code, message=message, step=step)
    print(f"error: {code}: {message}", file=sys.stderr)
    return EXIT_FAILED
