"""Kill -9 and resume: a training process killed after its first checkpoint, started again with
the same command, resumes at the saved (epoch, step), not from scratch, and ends with weights
bit-for-bit equal to an uninterrupted run's (deterministic ops, seeds, no dropout: see
``train_resumable.py``). The reference is an independent process that is never interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tfprot.distribute import latest_position

SCRIPT = Path(__file__).with_name("train_resumable.py")
TIMEOUT_S = 240


def _start(checkpoint_dir: Path, final_dir: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_DETERMINISTIC_OPS": "1"}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(checkpoint_dir), str(final_dir)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
    )


def _position(checkpoint_dir: Path) -> tuple[int, int] | None:
    """The latest checkpoint's position, or ``None`` (also while a save rotates files)."""
    try:
        return latest_position(checkpoint_dir)
    except Exception:  # the file named by the index was just rotated away
        return None


def _result(log: Path) -> dict:
    text = log.read_text()
    assert "@@RESULT " in text, text[-3000:]
    return json.loads(text.split("@@RESULT ", 1)[1].splitlines()[0])


def _weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.mark.slow
def test_killed_training_resumes_at_its_checkpoint_and_ends_equal_to_an_uninterrupted_run(
    tmp_path,
):
    reference_log, victim_log, resumed_log = (tmp_path / f"{n}.log" for n in ("a", "b", "c"))
    victim = _start(tmp_path / "ckpt", tmp_path / "model", victim_log)
    processes = [victim]
    try:
        deadline = time.monotonic() + TIMEOUT_S
        # Kill it inside the second epoch, after a mid-epoch checkpoint: the resumed run must
        # rebuild that epoch's (reshuffled) order and skip the batches already trained on.
        while (_position(tmp_path / "ckpt") or (0, 0)) < (1, 1):
            assert victim.poll() is None, victim_log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint was written in time"
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(30) == -signal.SIGKILL
        killed_at = latest_position(tmp_path / "ckpt")
        assert not (tmp_path / "model").exists()  # the final model only after a good end

        again = _start(tmp_path / "ckpt", tmp_path / "model", resumed_log)  # the same command
        # The uninterrupted reference run, in parallel (the CPU is free again).
        reference = _start(tmp_path / "ref_ckpt", tmp_path / "ref_model", reference_log)
        processes += [again, reference]
        assert again.wait(TIMEOUT_S) == 0, resumed_log.read_text()[-3000:]
        assert reference.wait(TIMEOUT_S) == 0, reference_log.read_text()[-3000:]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    resumed, uninterrupted = _result(resumed_log), _result(reference_log)
    steps = uninterrupted["steps_per_epoch"]
    assert uninterrupted["resumed_from"] == [0, 0]
    # Resumed where the kill left it: past the start, before the end, at the checkpointed step.
    assert killed_at is not None and (1, 0) < killed_at < (2, 0)
    assert tuple(resumed["resumed_from"]) == killed_at
    assert killed_at[1] % 3 == 0  # saved every 3 steps
    print(f"killed at epoch {killed_at[0] + 1}, step {killed_at[1]} of {steps}")

    final, reference_final = _weights(tmp_path / "model"), _weights(tmp_path / "ref_model")
    assert final.keys() == reference_final.keys()
    for name in final:
        np.testing.assert_array_equal(final[name], reference_final[name], err_msg=name)
    # The first epoch's metrics come back from before the kill (history.json), unchanged.
    assert len(resumed["history"]["loss"]) == 2
    assert resumed["history"]["loss"][0] == uninterrupted["history"]["loss"][0]


def test_gfile_paths_clock_based_saves_and_a_changed_run():
    # ram:// is TensorFlow's in-memory file system: a path only tf.io.gfile can use, like gs://.
    import tensorflow as tf

    import tfprot
    from tfprot.distribute import (
        check_run_identity,
        epoch_datasets,
        fit_resumable,
        remove_checkpoints,
    )
    from tfprot.errors import OptionError

    full = tfprot.ProteinDataset.example()
    short = [r for r in full.records("train") if len(r) <= 120]
    records = [r for r in short if r.label == "cytoplasmic"][:12]
    records += [r for r in short if r.label == "plasma_membrane"][:12]
    data = tfprot.ProteinDataset(records, "classification", name="short")
    model = tfprot.sequence_classifier("tiny-esm", data, precision="float32")
    make = epoch_datasets(data, "train", model.tokenizer, batch_tokens=512, seed=3)
    directory = "ram://tfprot-fault-tolerance/run"
    identity = {"epochs": 1, "data_sha256": "abc"}
    result = fit_resumable(
        model,
        make,
        epochs=1,
        checkpoint_dir=directory,
        save_every_seconds=1e-9,  # due after every step
        keep=100,
        verbose=0,
        run_identity=identity,
    )
    steps = result.steps_per_epoch
    assert steps > 2
    # A save after each step but the last, then the end-of-epoch one: ckpt-1 ... ckpt-steps.
    names = tf.io.gfile.listdir(directory)
    assert sorted(n for n in names if n.endswith(".index")) == sorted(
        f"ckpt-{i}.index" for i in range(1, steps + 1)
    )
    assert {"run.json", "history.json", "checkpoint"} <= set(names)
    assert latest_position(directory) == (1, 0)

    check_run_identity(directory, identity)  # the same run: resumes
    with pytest.raises(OptionError, match=r"changed: data \(its content\), epochs 1 -> 2"):
        check_run_identity(directory, {"epochs": 2, "data_sha256": "abd"})
    with pytest.raises(OptionError, match="different run"):
        fit_resumable(model, make, epochs=2, checkpoint_dir=directory, run_identity={"x": 1})
    remove_checkpoints(directory)
    assert not tf.io.gfile.exists(directory)
