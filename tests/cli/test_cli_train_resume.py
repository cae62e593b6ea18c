"""``tfprot train`` survives being killed: a run SIGKILLed mid-epoch, started again with the same
command, resumes at its last checkpoint and ends with the weights of a run that was never
interrupted, bit for bit; a changed command is refused instead of resumed; a finished run
leaves no checkpoints.

The reference is an independent process of the same command that is never interrupted. tiny-esm
has no dropout and the data order of an epoch depends only on the seed and the epoch, so equal
weights are expected exactly (``TF_DETERMINISTIC_OPS=1`` in both, as for
``tests/distribute/test_fault_tolerance.py``).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time

import numpy as np
import pytest
from conftest import run_cli
from train_runs import (
    TIMEOUT_S,
    assert_one_line,
    environment,
    run_tfprot,
    tfprot_command,
    train_args,
    write_small_table,
)


def _weights(folder):
    from safetensors.numpy import load_file

    return load_file(str(folder / "model" / "model.safetensors"))


def _checkpoint_files(folder):
    """The checkpoints and the run's record (not the lock, which records the latest holder)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != "lock"}


@pytest.mark.slow
def test_killed_train_resumes_and_ends_equal_to_an_uninterrupted_run(tmp_path):
    table = write_small_table(tmp_path / "small.csv")
    command = train_args(table, "--checkpoint-every", "2", epochs=2)
    victim_out, reference_out = tmp_path / "run", tmp_path / "reference"
    resume = tmp_path / "run.resume"  # the default: beside --out
    victim = subprocess.Popen(
        [*tfprot_command(), *command, "--out", str(victim_out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=environment(),
    )
    reference = subprocess.Popen(  # in parallel: the CPU is shared, not the results
        [*tfprot_command(), *command, "--out", str(reference_out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment(),
    )
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not (resume / "checkpoint").is_file():  # the first checkpoint: step 2 of 8
            assert victim.poll() is None, victim.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint was written in time"
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(30) == -signal.SIGKILL
        assert not victim_out.exists()
        saved = _checkpoint_files(resume)

        # Another command (one more epoch) does not resume into this run's state.
        changed = run_tfprot([*train_args(table, epochs=3), "--out", str(victim_out)])
        assert_one_line(changed, str(resume), "epochs 2 -> 3", "rerun the original command")
        assert _checkpoint_files(resume) == saved

        again = run_tfprot([*command, "--out", str(victim_out)])  # the same command
        reference_stdout, _ = reference.communicate(timeout=TIMEOUT_S)
    finally:
        for process in (victim, reference):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert again.returncode == 0, again.stderr[-3000:]
    assert reference.returncode == 0, reference_stdout[-3000:]
    found = re.search(r"resuming  : from step (\d+) of (\d+) \(epoch 1,", again.stdout)
    assert found, again.stdout
    step, total = int(found[1]), int(found[2])
    assert total == 16 and 2 <= step < 8 and step % 2 == 0  # mid first epoch, every 2 steps
    assert "resuming" not in reference_stdout
    assert "Epoch 1/2" in again.stdout and "Epoch 2/2" in again.stdout

    resumed, uninterrupted = _weights(victim_out), _weights(reference_out)
    assert resumed.keys() == uninterrupted.keys()
    for name in resumed:
        np.testing.assert_array_equal(resumed[name], uninterrupted[name], err_msg=name)
    # A finished run cleans its checkpoints; nothing hidden is left beside --out.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference", "run", "small.csv"]


def test_resume_dir_through_tf_io_gfile_is_removed_at_the_end(capsys, tmp_path):
    # ram:// is TensorFlow's in-memory file system: a path that only tf.io.gfile can use (like
    # gs://), so the checkpoints must go through it and not through local file calls.
    import tensorflow as tf

    table = write_small_table(tmp_path / "small.csv")
    resume = "ram://tfprot-test/run.resume"
    code, out, err = run_cli(
        capsys, [*train_args(table), "--resume-dir", resume, "--out", str(tmp_path / "run")]
    )
    assert code == 0, err
    assert f"into {resume}" in out and "checkpoints every 5 minutes" in out
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert not tf.io.gfile.exists(resume)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "small.csv"]
