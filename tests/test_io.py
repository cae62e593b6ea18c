"""Atomic writes: the target is replaced whole or not at all, with an ordinary file mode."""

import os
import stat

import pytest

from tfprot._io import atomic_folder, write_text_atomic


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

    from tfprot._io import open_atomic

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
