"""The event stream (PROTOCOL.md § Events): one JSON object per line on a dedicated fd.

`MetricLogger` is the one interface the recipe logs through; `EventSink` writes to the
parent's pipe, `NullLogger` serves DDP ranks other than 0. A closed pipe means the
parent is gone: the sink notices both on write (EPIPE) and, between writes, from a
watchdog thread polling the fd for POLLERR/POLLHUP, and raises `parent_gone` so the
loop stops at the next step boundary instead of training for nobody. A step (or a model
load) can be long, so the process also ends by itself PARENT_GONE_GRACE_S later.
"""
from __future__ import annotations

import errno
import json
import math
import os
import select
import sys
import threading
import time
from typing import Protocol

PARENT_GONE_GRACE_S = 30.0
EXIT_PARENT_GONE = 74  # runner.EXIT_PARENT_GONE


class MetricLogger(Protocol):
    parent_gone: threading.Event

    def log(self, type: str, **fields) -> None:
        ...

    def close(self) -> None:
        ...


def _clean(v):
    """JSON has no NaN/Infinity: they become null (the schema allows it only where noted)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


class EventSink:
    def __init__(self, fd: int):
        os.fstat(fd)  # raises OSError (EBADF) now rather than at the first event
        self.fd = fd
        self.parent_gone = threading.Event()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="events-watchdog", daemon=True)
        self._watchdog.start()

    def log(self, type: str, **fields) -> None:
        line = (
            json.dumps({"type": type, "time": time.time(), **_clean(fields)}, allow_nan=False, ensure_ascii=False)
            + "\n"
        )
        data = line.encode("utf-8")
        with self._lock:
            if self.parent_gone.is_set():
                return
            try:
                while data:
                    data = data[os.write(self.fd, data) :]
            except OSError as e:
                if e.errno in (errno.EPIPE, errno.EBADF, errno.ECONNRESET):
                    self._gone()
                    return
                raise

    def _gone(self) -> None:
        if not self.parent_gone.is_set():
            self.parent_gone.set()
            timer = threading.Timer(PARENT_GONE_GRACE_S, os._exit, (EXIT_PARENT_GONE,))
            timer.daemon = True
            timer.start()

    def _watch(self) -> None:
        try:
            poller = select.poll()
            poller.register(self.fd, select.POLLERR | select.POLLHUP)
        except (OSError, ValueError):
            return
        while not self._stop.is_set():
            try:
                ready = poller.poll(500)
            except OSError:
                return
            if any(ev & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, ev in ready):
                self._gone()
                return

    def close(self) -> None:
        self._stop.set()


class NullLogger:
    def __init__(self):
        self.parent_gone = threading.Event()

    def log(self, type: str, **fields) -> None:
        pass

    def close(self) -> None:
        pass


def open_events(fd: int | None) -> EventSink:
    """The sink for --events-fd (default: stderr). Under torchrun the workers do not
    inherit the launcher's descriptors, so a missing fd is reopened via /proc/<ppid>/fd."""
    fd = 2 if fd is None else fd
    try:
        return EventSink(fd)
    except OSError:
        path = f"/proc/{os.getppid()}/fd/{fd}"
        try:
            return EventSink(os.open(path, os.O_WRONLY | os.O_APPEND))
        except OSError:
            print(f"usage error: --events-fd {fd} is not an open file descriptor", file=sys.stderr)
            raise SystemExit(2) from None
