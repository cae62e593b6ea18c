"""Atomic writes: the target is replaced whole or not at all, with an ordinary file mode."""

import errno
import logging
import os
import signal
import stat
import subprocess
import sys

import pytest

from tfprot._io import (
    atomic_folder,
    check_writable,
    clean_stale_staging,
    final_path,
    open_atomic,
    write_text_atomic,
)
from tfprot.errors import OutputError


def test_atomic_file_gets_the_mode_a_plain_open_would(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = tmp_path / "atomic.txt"
    write_text_atomic(atomic, "x")
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    class BoomError(Exception):
        pass

    with pytest.raises(BoomError), open_atomic(target) as handle:
        handle.write("half")
        raise BoomError
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_atomic_folder_replaces_whole_or_keeps_the_old_one(tmp_path):
    target = tmp_path / "model"
    with atomic_folder(target) as staging:
        (staging / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_folder(target) as staging:
        (staging / "a").write_text("2")
        raise RuntimeError
    assert (target / "a").read_text() == "1"
    with atomic_folder(target) as staging:
        (staging / "b").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


# -- leftovers of saves killed midway: removed by the next save, never a live writer's ----------

_WRITER = """
import os, signal, sys, time
from tfprot._io import atomic_folder
with atomic_folder(sys.argv[1]) as staging:
    (staging / "weights.bin").write_bytes(bytes(5000))
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    print("writing", flush=True)
    time.sleep(60)
"""


def _writer(target, how):
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(target), how], stdout=subprocess.PIPE, text=True
    )


def _hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_killed_save_is_cleaned_by_the_next_one_and_a_live_one_is_not(tmp_path, caplog):
    target = tmp_path / "model"
    killed = _writer(target, "kill")
    assert killed.wait(60) == -signal.SIGKILL
    (staging,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert staging.name.startswith(".model.") and staging.name.endswith(".tmp")
    with caplog.at_level(logging.INFO, logger="tfprot._io"):
        assert clean_stale_staging(target) == [staging]
    assert f"Removed {staging} (5.0 kB), left by an interrupted save of model." in caplog.text
    assert _hidden(tmp_path) == []

    live = _writer(target, "sleep")  # another process writing the same target right now
    try:
        assert live.stdout.readline() == "writing\n"
        assert clean_stale_staging(target) == []
        (alive,) = [p for p in tmp_path.iterdir() if p.is_dir()]  # the live writer's, untouched
        assert (alive / "weights.bin").stat().st_size == 5000
    finally:
        live.kill()
        live.wait()
    # Killed too now: the next save of the target removes its leftovers before writing.
    with atomic_folder(target) as new:
        (new / "weights.bin").write_bytes(b"new")
    assert _hidden(tmp_path) == [] and (target / "weights.bin").read_bytes() == b"new"


def test_a_save_killed_between_its_two_renames_gets_the_old_folder_back(tmp_path):
    # What a SIGKILL between "move the old folder aside" and "move the new one in" leaves.
    target = tmp_path / "model"
    target.mkdir()
    (target / "weights.bin").write_text("old")
    key = "0123abcd"
    os.replace(target, tmp_path / f".model.{key}.old")
    (tmp_path / f".model.{key}.tmp").mkdir()
    (tmp_path / f".model.{key}.lock").write_text("tfprot staging lock: pid 1\n")  # not locked
    clean_stale_staging(target)
    assert (target / "weights.bin").read_text() == "old"
    assert _hidden(tmp_path) == []


def test_folders_that_are_not_tfprots_are_left_alone(tmp_path, caplog):
    target = tmp_path / "model"
    mine = tmp_path / ".model.backup.tmp"  # the user's, named alike but without a lock file
    mine.mkdir()
    legacy = tmp_path / ".model.89abcdef.tmp"  # an older tfprot's staging folder: no lock file
    legacy.mkdir()
    with caplog.at_level(logging.INFO, logger="tfprot._io"):
        assert clean_stale_staging(target) == []
    assert mine.is_dir() and legacy.is_dir()
    assert f"{legacy} looks like the staging folder of a save killed midway" in caplog.text
    assert str(mine) not in caplog.text


def test_failed_writes_name_the_target_not_the_hidden_temporary(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(PermissionError) as info, atomic_folder(target) as staging:
        raise PermissionError(errno.EACCES, "Permission denied", str(staging / "w.bin"))
    assert info.value.filename == str(target / "w.bin")
    with pytest.raises(OSError) as info, open_atomic(tmp_path / "a.txt"):
        raise OSError(errno.ENOSPC, "No space left on device")  # a write names no file
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "a.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_check_writable_refuses_a_path_through_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="file is a file, not a folder; choose another --out"):
        check_writable(tmp_path / "file" / "out")
    check_writable(tmp_path / "new" / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing created


def test_final_path_maps_live_staging_folders_only(tmp_path):
    out = tmp_path / "out"
    with atomic_folder(out) as staging:
        with atomic_folder(staging / "model") as inner:
            assert inner.name.startswith(".model.") and inner.parent == staging
            assert final_path(inner / "a.json") == out / "model" / "a.json"
        assert final_path(staging / "model") == out / "model"
        assert final_path(tmp_path / "elsewhere") == tmp_path / "elsewhere"
    assert final_path(staging / "model") == staging / "model"  # no longer being written


def test_a_folder_save_onto_a_file_is_an_output_error_naming_it(tmp_path):
    target = tmp_path / "model"
    target.write_text("a file")
    with pytest.raises(OutputError, match=f"{target} exists and is not a folder"):
        atomic_folder(target).__enter__()
    assert target.read_text() == "a file"
