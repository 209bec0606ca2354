"""A full disk fails the job with DISK_FULL (not INTERNAL) and leaves no half-written
checkpoint behind. Needs a real full filesystem: a small tmpfs, mounted when running as
root; skipped otherwise (the reason is printed)."""
import os
import subprocess

import pytest

from conftest import make_model_dir, make_spec, random_examples, run_train, write_examples


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs: too small for one checkpoint of the micro model with its optimizer state."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; run as root to test a full disk")
    mount = tmp_path / "tiny-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); a full disk cannot be tested")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_checkpoint_on_a_full_disk_fails_with_disk_full_and_leaves_no_partial_checkpoint(tmp_path, tiny_disk):
    model = make_model_dir(str(tmp_path / "model"))
    train = write_examples(str(tmp_path / "train.tlshard"), random_examples(8, seed=1))
    checkpoints = str(tiny_disk / "checkpoints")
    spec = make_spec(tmp_path, model, train, method="full", checkpoints={"dir": checkpoints, "every": 1})
    run = run_train(spec, tmp_path)
    assert run.returncode == 1, (run.returncode, run.stderr)
    failed = run.of("failed")
    assert len(failed) == 1 and failed[0]["code"] == "DISK_FULL", run.events
    assert "ran out of space while writing a checkpoint" in failed[0]["message"]
    assert "Traceback" not in run.stderr and run.stderr.startswith("error: DISK_FULL: ")
    assert [n for n in os.listdir(checkpoints) if n.startswith(".tmp-")] == []
