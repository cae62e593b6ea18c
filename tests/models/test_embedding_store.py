"""Embeddings streamed to HDF5 (``embed(..., out="x.h5")``): the same values as the in-memory
path, every id once in input order, read back with h5py itself (not tfprot's reader), resume
that skips only what is whole and from the same sequence, refusal of a file from another model
or with other settings, leftovers of a killed writer removed, a second live writer refused."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import tfprot
from tfprot.data.stream import sequence_digest
from tfprot.errors import OptionError, OutputError
from tfprot.models.embedding_store import (
    EmbeddingStore,
    StoreHeader,
    dataset_name,
    parts_folder,
)
from tfprot.models.embeddings import Embeddings

SEQUENCES = [
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK",
    "GGSW",
    "MSDNELQKLAEQ",
    "MKVLAAGIVALLLAAGCSSSKEETPKAEAPKAESSAGEAKAE",
    "PEPTIDE",
    "MHHHHHHSSGLVPRGSHMASMTGGQQMGRGS",
    "ACDEFGHIKLMNPQRSTVWY" * 4,
]
IDS = ["sp|P69905|HBA_HUMAN/1-20", "a b", "..", "ids", "x%2Fy", "é-ü", "P1"]
BATCH_TOKENS = 60


@pytest.fixture(scope="module")
def model():
    return tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32")


@pytest.fixture(scope="module")
def records():
    return tfprot.from_lists(SEQUENCES, ids=IDS)


def _read(path):
    """``{id: array}`` and the ids in file order, read with h5py alone."""
    with h5py.File(path, "r") as saved:
        order = [saved[name].attrs["id"] for name in saved]
        arrays = {saved[name].attrs["id"]: saved[name][()] for name in saved}
        attrs = dict(saved.attrs)
    return order, arrays, attrs


@pytest.mark.parametrize("per_residue", [True, False])
def test_streamed_file_holds_the_in_memory_values_once_per_id_in_input_order(
    model, records, tmp_path, per_residue
):
    memory = model.embed(records, per_residue=per_residue, batch_tokens=BATCH_TOKENS)
    out = tmp_path / "e.h5"
    summary = model.embed(
        records, per_residue=per_residue, batch_tokens=BATCH_TOKENS, out=out, window=3
    )
    assert (summary.sequences, summary.embedded, summary.skipped) == (7, 7, 0)
    assert summary.residues == sum(len(s) for s in SEQUENCES)
    order, arrays, attrs = _read(out)
    assert order == IDS
    for record_id, expected in zip(IDS, memory.vectors, strict=True):
        assert arrays[record_id].dtype == np.float32
        np.testing.assert_allclose(arrays[record_id], expected, rtol=0, atol=1e-6)
    assert attrs["pooling"] == ("none" if per_residue else "mean")
    assert attrs["dtype"] == "float32" and attrs["hidden_size"] == 64
    assert attrs["tfprot_version"] == tfprot.__version__
    with h5py.File(out, "r") as saved:  # accession-style ids are their own names
        assert saved["P1"].attrs["sequence_sha256"] == sequence_digest(SEQUENCES[-1])
        assert dataset_name(IDS[0]) in saved and "x%252Fy" in saved
    assert not parts_folder(out).exists()
    loaded = Embeddings.load(out)
    assert loaded.ids == tuple(IDS) and loaded.per_residue == per_residue


def test_float16_halves_the_file_and_rounds_the_values(model, records, tmp_path):
    memory = model.embed(records, per_residue=True, batch_tokens=BATCH_TOKENS)
    model.embed(records, per_residue=True, out=tmp_path / "e32.h5")
    model.embed(records, per_residue=True, out=tmp_path / "e16.h5", dtype="float16")
    _, arrays, attrs = _read(tmp_path / "e16.h5")
    assert attrs["dtype"] == "float16"
    for record_id, expected in zip(IDS, memory.vectors, strict=True):
        assert arrays[record_id].dtype == np.float16
        np.testing.assert_array_equal(arrays[record_id], expected.astype(np.float16))
    with h5py.File(tmp_path / "e32.h5") as a, h5py.File(tmp_path / "e16.h5") as b:
        assert sum(a[n].id.get_storage_size() for n in a) == 2 * sum(
            b[n].id.get_storage_size() for n in b
        )
    with pytest.raises(OptionError, match="float64"):
        model.embed(records, out=tmp_path / "e.h5", dtype="float64")


def test_a_rerun_skips_whole_ids_and_redoes_changed_or_damaged_ones(model, records, tmp_path):
    out = tmp_path / "e.h5"
    model.embed(records[:4], per_residue=True, out=out)
    with h5py.File(out, "a") as saved:  # a dataset cut short (what a bug or a bad copy leaves)
        data = saved[dataset_name(IDS[1])][()]
        del saved[dataset_name(IDS[1])]
        saved.create_dataset(dataset_name(IDS[1]), data=data[:2])
        saved[dataset_name(IDS[1])].attrs.update({"id": IDS[1], "sequence_sha256": "x"})
    changed = [*records[:3], tfprot.from_lists(["MKTW"], ids=[IDS[3]])[0], *records[4:]]
    summary = model.embed(changed, per_residue=True, out=out)
    assert (summary.embedded, summary.skipped, summary.recomputed) == (5, 2, 2)
    order, arrays, _ = _read(out)
    assert order == IDS
    memory = model.embed(changed, per_residue=True)
    for record_id, expected in zip(IDS, memory.vectors, strict=True):
        np.testing.assert_allclose(arrays[record_id], expected, atol=1e-6)
    again = model.embed(changed, per_residue=True, out=out)
    assert (again.embedded, again.skipped) == (0, 7)


def test_a_file_from_another_model_or_other_settings_is_refused(model, records, tmp_path):
    out = tmp_path / "e.h5"
    model.embed(records[:2], out=out)
    before = out.read_bytes()
    other = tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32")  # new weights
    with pytest.raises(OutputError, match="another model") as refused:
        other.embed(records, out=out)
    assert "weights_sha256" in str(refused.value) and "Choose another --out" in str(refused.value)
    with pytest.raises(OutputError, match="pooling mean -> none"):
        model.embed(records, out=out, per_residue=True)
    with pytest.raises(OutputError, match="dtype float32 -> float16"):
        model.embed(records, out=out, dtype="float16")
    assert out.read_bytes() == before
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as handle:
        handle["x"] = np.zeros(3)
    with pytest.raises(OutputError, match="not a tfprot embeddings file"):
        model.embed(records, out=foreign)
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(OutputError, match="not an HDF5 file"):
        model.embed(records, out=text)


def test_leftovers_of_a_killed_writer_go_and_finished_parts_are_used(model, records, tmp_path):
    out = tmp_path / "e.h5"
    memory = model.embed(records, per_residue=True, batch_tokens=BATCH_TOKENS)
    header = StoreHeader(
        "tiny",
        _digest(model),
        per_residue=True,
        dtype="float32",
        hidden_size=64,
    )
    with EmbeddingStore(out, header) as store:  # two finished parts, then a "kill"
        for record, vectors in zip(records[:3], memory.vectors[:3], strict=True):
            store.add(record.id, vectors, sequence_digest(record.sequence))
            if record.id == IDS[1]:
                store.flush()
    parts = parts_folder(out)
    assert sorted(p.name for p in parts.glob("part-*")) == ["part-000001.h5", "part-000002.h5"]
    whole = (parts / "part-000001.h5").read_bytes()
    for name in ("part-000003.h5.tmp", "final.h5.tmp"):  # what a kill mid-write leaves
        (parts / name).write_bytes(whole[: len(whole) // 2])
    summary = model.embed(records, per_residue=True, out=out)
    assert (summary.embedded, summary.skipped) == (4, 3)
    order, arrays, _ = _read(out)
    assert order == IDS
    for record_id, expected in zip(IDS, memory.vectors, strict=True):
        np.testing.assert_allclose(arrays[record_id], expected, atol=1e-6)
    assert not parts_folder(out).exists()


def test_a_second_live_writer_is_refused(model, records, tmp_path):
    out = tmp_path / "e.h5"
    header = StoreHeader("tiny", _digest(model), per_residue=False, dtype="float32", hidden_size=64)
    with EmbeddingStore(out, header), pytest.raises(OutputError, match="another run"):
        model.embed(records, out=out)


def _digest(model):
    from tfprot.models.embed_stream import weights_digest

    return weights_digest(model.transformer)


def test_progress_counts_sequences_per_second_with_the_time_left(model, records, tmp_path, capsys):
    model.embed(records, out=tmp_path / "quiet.h5")
    assert capsys.readouterr().err == ""
    model.embed(records, out=tmp_path / "e.h5", progress=True)
    err = capsys.readouterr().err
    assert "embed: 100%" in err and "7/7" in err and "seq/s" in err and "<00:00" in err


def test_a_closed_part_reaches_the_disk_while_the_next_is_written(monkeypatch, tmp_path):
    """``flush`` hands the part's fsync and rename to a background thread: it returns while the
    disk is still busy, the part keeps its temporary name until its fsync ended (the final
    file's copy reads it there meanwhile), and ``finish`` waits for it."""
    import threading

    import tfprot.models.embedding_store as store_module

    disk_free, fsyncs = threading.Event(), []
    real_fsync = store_module._fsync

    def slow_fsync(path):
        assert disk_free.wait(timeout=30), "the disk was never freed"
        fsyncs.append(path.name)
        real_fsync(path)

    monkeypatch.setattr(store_module, "_fsync", slow_fsync)
    header = StoreHeader("tiny", "0" * 64, per_residue=False, dtype="float32", hidden_size=2)
    out = tmp_path / "e.h5"
    parts = parts_folder(out)
    with EmbeddingStore(out, header) as store:
        store.add("a", np.ones(2), "d1")
        store.flush()  # returns although its fsync is blocked
        assert sorted(p.name for p in parts.glob("part-*")) == ["part-000001.h5.tmp"]
        store.extend_final(["a", "b"])  # "a" is copied from the part on its way to the disk
        assert (parts / "final.h5.tmp").is_file()
        store.add("b", np.full(2, 2.0), "d2")  # the next part is written meanwhile
        assert fsyncs == []
        disk_free.set()
        path = store.finish(["a", "b"])
    assert fsyncs == ["part-000001.h5.tmp", "part-000002.h5.tmp", "final.h5.tmp"]
    order, arrays, _ = _read(path)
    assert order == ["a", "b"] and arrays["b"].tolist() == [2.0, 2.0]


def test_a_part_that_cannot_reach_the_disk_fails_the_run(monkeypatch, tmp_path):
    import tfprot.models.embedding_store as store_module

    def full_disk(path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(store_module, "_fsync", full_disk)
    header = StoreHeader("tiny", "0" * 64, per_residue=False, dtype="float32", hidden_size=2)
    out = tmp_path / "e.h5"
    with pytest.raises(OSError, match="No space left"), EmbeddingStore(out, header) as store:
        store.add("a", np.ones(2), "d1")
        store.finish(["a"])
    assert not out.exists() and not list(parts_folder(out).glob("part-*.h5"))


def test_a_run_that_fails_keeps_its_parts_and_drops_the_unfinished_final_file(tmp_path):
    header = StoreHeader("tiny", "0" * 64, per_residue=False, dtype="float32", hidden_size=2)
    out = tmp_path / "e.h5"
    parts = parts_folder(out)
    with pytest.raises(RuntimeError, match="stopped"), EmbeddingStore(out, header) as store:
        store.add("a", np.ones(2), "d1")
        store.flush()
        store.extend_final(["a", "b"])  # the final file holds "a", not "b" yet
        raise RuntimeError("stopped")
    assert sorted(p.name for p in parts.iterdir()) == ["lock", "part-000001.h5"]
    with EmbeddingStore(out, header) as store:  # the rerun
        assert store.completed({"a": 2, "b": 2}, {"a": "d1", "b": "d2"})["complete"] == 1
        store.add("b", np.full(2, 2.0), "d2")
        store.finish(["a", "b"])
    order, arrays, _ = _read(out)
    assert order == ["a", "b"] and arrays["a"].tolist() == [1.0, 1.0]
