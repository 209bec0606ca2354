"""Disk full: how the trainer recognises it and what it leaves behind.

A full disk shows up in several disguises: OSError ENOSPC / EDQUOT from open/write,
numpy's `tofile` short write ("180224 requested and 75504 written", errno unset),
torch's zip writer ("PytorchStreamWriter failed writing file ... file write failed").
All of them become the `failed` code DISK_FULL (PROTOCOL.md § Failure codes) with a
message that says so, instead of INTERNAL with a cryptic exception.
"""
from __future__ import annotations

import errno
import os
import re
import shutil

# A short write is only blamed on the disk when the disk is in fact (nearly) full.
_NEARLY_FULL_BYTES = 64 * 1024 * 1024
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written|file write failed|unexpected pos")
_NO_SPACE = ("No space left on device", "Disk quota exceeded")

MESSAGE = (
    "the disk ran out of space while writing {what} (checkpoints and outputs live in the data "
    "folder); free space there, or lower checkpoints.keep, then start the job again"
)


def is_disk_full(e: BaseException, folder: str | None) -> bool:
    """Whether `e` (or an exception it was raised from) means the disk is full."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(e)
        if any(s in text for s in _NO_SPACE):
            return True
        if _SHORT_WRITE.search(text) and folder is not None and _free_bytes(folder) < _NEARLY_FULL_BYTES:
            return True
        e = e.__cause__ or e.__context__
    return False


def remove_partial_files(checkpoints_dir: str, output_dir: str) -> None:
    """Removes what a failed write left half-done: `.tmp-step-*` checkpoint folders and
    `.tmp-*` output folders. Complete checkpoints (`step-*`) stay, so the job can resume."""
    for root in (checkpoints_dir, output_dir):
        try:
            names = os.listdir(root)
        except OSError:
            continue
        for name in names:
            if name.startswith(".tmp-"):
                path = os.path.join(root, name)
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    try:
                        os.remove(path)
                    except OSError:
                        pass


def _free_bytes(folder: str) -> int:
    path = folder
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    try:
        return shutil.disk_usage(path or ".").free
    except OSError:
        return 1 << 62
