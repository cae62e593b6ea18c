"""fold() end to end with tiny-esmfold on CPU, checked with Biopython and by hand."""

import csv
import json
import os

import numpy as np
import pytest

from tfprot.fold import FoldOptions, fold

torch = pytest.importorskip("torch")
PDB = pytest.importorskip("Bio.PDB")

# Human ubiquitin (UniProt P0CG48, residues 1-76) and short real peptides.
UBIQUITIN = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNISKESTLHLVLRLRGG"
INPUTS = {
    "ubiquitin": UBIQUITIN,
    "dimer": "MKTAYIAKQRQISFV:GGSWKLLEVR",  # two chains
    "with unknown": "ACDEFGHIKXLMNPQRSTVWY",
    "../../escape/me": "MKTAYIAKQ",
    "bad": "MKTAY1AKQ",
}
FAST = {"num_recycles": 0, "progress": False}


@pytest.fixture(scope="module")
def folded(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("folded")
    report = fold(INPUTS, folder, model=tiny_model, **FAST)
    return report


def chains_of(path):
    from Bio.SeqUtils import seq1

    structure = PDB.PDBParser(QUIET=True).get_structure("s", str(path))
    return {
        chain.id: (
            "".join(seq1(residue.get_resname()) for residue in chain),
            [residue.id[1] for residue in chain],
            chain,
        )
        for chain in structure[0]
    }


def test_every_pdb_parses_with_its_chains_sequences_and_plddt_b_factors(folded):
    for identifier, raw in INPUTS.items():
        result = folded[identifier]
        if identifier == "bad":
            continue
        assert result.status == "folded", result.error
        stored = json.loads(result.files["json"].read_text())
        chains = chains_of(result.files["pdb"])
        expected = raw.split(":")
        assert list(chains) == ["A", "B"][: len(expected)]
        plddt = iter(stored["plddt"])
        for (sequence, numbers, chain), want in zip(chains.values(), expected, strict=True):
            assert sequence == want  # linker gone, residues right (X written as UNK)
            assert numbers == list(range(1, len(want) + 1))  # numbering restarts per chain
            for residue in chain:
                value = next(plddt)
                assert 0 <= value <= 100
                assert all(
                    atom.get_bfactor() == pytest.approx(value, abs=0.006) for atom in residue
                )
                assert {"N", "CA", "C"} <= {atom.get_id() for atom in residue}
        assert next(plddt, None) is None
        pae = np.load(result.files["pae"])
        length = sum(len(c) for c in expected)
        assert pae.shape == (length, length) and np.isfinite(pae).all() and (pae >= 0).all()
        assert 0 <= result.ptm <= 1
        assert result.mean_plddt == pytest.approx(np.mean(stored["plddt"]), abs=0.01)


def test_the_summary_lists_every_input_in_order_with_the_bad_one_failed(folded):
    with open(folded.summary_path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert [row["id"] for row in rows] == list(INPUTS)
    status = {row["id"]: row["status"] for row in rows}
    assert status == {**dict.fromkeys(INPUTS, "folded"), "bad": "failed"}
    bad = next(row for row in rows if row["id"] == "bad")
    assert "id 'bad'" in bad["error"] and "'1' at position 6" in bad["error"]
    dimer = next(row for row in rows if row["id"] == "dimer")
    assert (dimer["length"], dimer["chains"]) == ("25", "2")
    assert float(dimer["seconds"]) > 0 and 0 <= float(dimer["ptm"]) <= 1


def test_files_stay_inside_the_output_folder(folded):
    inside = {p.name for p in folded.output_dir.iterdir()}
    escaped = folded["../../escape/me"]
    assert escaped.name.startswith("escape_me-") and f"{escaped.name}.pdb" in inside
    assert not (folded.output_dir.parent.parent / "escape").exists()
    for result in folded.results:
        for path in result.files.values():
            assert path.resolve().parent == folded.output_dir.resolve()


def test_pictures_and_offline_html(folded):
    from matplotlib.image import imread

    files = folded["dimer"].files
    assert imread(files["plddt_png"]).shape[2] in (3, 4)
    assert imread(files["pae_png"]).shape[0] > 100
    page = files["html"].read_text()
    assert "3Dmol-min.js.LICENSE.txt" in page and "$3Dmol" in page  # the viewer is inlined
    assert len(page) > 500_000
    assert "<script src=" not in page and "<link" not in page  # nothing loaded from anywhere
    assert "ATOM  " in page and "UNTRAINED" in page


def test_a_result_does_not_depend_on_its_batch_and_ptm_matches_transformers(tiny_model, tmp_path):
    alone = fold({"ubiquitin": UBIQUITIN}, tmp_path / "alone", model=tiny_model, html=False, **FAST)
    sizes = []
    original = tiny_model.predict

    def recording(layouts, **kwargs):
        sizes.append(len(layouts))
        return original(layouts, **kwargs)

    tiny_model.predict = recording
    try:  # one padded batch: ubiquitin with a 40-residue peptide
        batched = fold(
            {"peptide": UBIQUITIN[:40], "ubiquitin": UBIQUITIN},
            tmp_path / "batched",
            model=tiny_model,
            batch_tokens=1024,
            max_length_ratio=None,
            pictures=False,
            html=False,
            **FAST,
        )
    finally:
        del tiny_model.predict
    assert sizes == [2]
    assert batched["ubiquitin"].ptm == pytest.approx(alone["ubiquitin"].ptm, abs=1e-5)
    a = np.load(alone["ubiquitin"].files["pae"])
    b = np.load(batched["ubiquitin"].files["pae"])
    np.testing.assert_allclose(a, b, atol=1e-3)
    from tfprot.fold.residues import to_aatype

    with torch.no_grad():  # transformers' own pTM is right for one unpadded monomer
        reference = tiny_model.model(torch.tensor(to_aatype(UBIQUITIN))[None], num_recycles=0)
        peptide = tiny_model.model(torch.tensor(to_aatype(UBIQUITIN[:40]))[None], num_recycles=0)
    assert alone["ubiquitin"].ptm == pytest.approx(float(reference["ptm"]), abs=1e-5)
    assert batched["peptide"].ptm == pytest.approx(float(peptide["ptm"]), abs=1e-5)


def test_resume_skips_finished_outputs_and_overwrite_refolds(folded, tiny_model, tmp_path):
    inputs = {"one": "MKTAYIAKQ", "two": "GGSWKLLEV"}
    first = fold(inputs, tmp_path, model=tiny_model, pictures=False, html=False, **FAST)
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    (tmp_path / "two.json").unlink()  # as if interrupted before "two" finished

    calls = []
    original = tiny_model.predict

    def counting(layouts, **kwargs):
        calls.append(len(layouts))
        return original(layouts, **kwargs)

    tiny_model.predict = counting
    try:
        again = fold(inputs, tmp_path, model=tiny_model, pictures=False, html=False, **FAST)
        assert [r.status for r in again.results] == ["skipped", "folded"] and calls == [1]
        assert (tmp_path / "one.pdb").stat().st_mtime_ns == stamps["one.pdb"]
        assert again["one"].ptm == pytest.approx(first["one"].ptm)
        fold(inputs, tmp_path, model=tiny_model, overwrite=True, pictures=False, html=False, **FAST)
        assert calls == [1, 1, 1]  # batch_tokens='auto' folds each sequence alone on a CPU
    finally:
        del tiny_model.predict


def test_out_of_memory_retries_with_a_smaller_chunk(tiny_model, tmp_path):
    tried = []
    original = tiny_model.predict

    def first_call_runs_out(layouts, *, chunk_size=None, **kwargs):
        tried.append(chunk_size)
        if len(tried) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return original(layouts, chunk_size=chunk_size, **kwargs)

    tiny_model.predict = first_call_runs_out
    try:
        report = fold({"p": UBIQUITIN}, tmp_path, model=tiny_model, html=False, **FAST)
    finally:
        del tiny_model.predict
    assert tried == [None, 128]
    result = report["p"]
    assert (result.status, result.chunk_size, result.attempts) == ("folded", 128, 2)
    assert json.loads(result.files["json"].read_text())["chunk_size"] == 128


def test_a_sequence_that_never_fits_fails_alone_with_the_reason(tiny_model, tmp_path):
    original = tiny_model.predict

    def long_one_runs_out(layouts, **kwargs):
        if any(layout.total_length > 50 for layout in layouts):
            raise RuntimeError("CUDA out of memory. Tried to allocate 80.00 GiB")
        return original(layouts, **kwargs)

    tiny_model.predict = long_one_runs_out
    try:
        report = fold(
            {"short": "MKTAYIAKQ", "long": UBIQUITIN, "short2": "GGSWKLLEV"},
            tmp_path,
            model=tiny_model,
            options=FoldOptions(
                batch_tokens=10_000, max_length_ratio=None, pictures=False, html=False, **FAST
            ),
        )
    finally:
        del tiny_model.predict
    assert [r.status for r in report.results] == ["folded", "failed", "folded"]
    long = report["long"]
    # the batch (chunk None), then alone: None again (a batch of one needs less), 128 ... 4
    assert "id 'long': out of memory" in long.error and long.attempts == 8
    assert not (tmp_path / "long.pdb").exists()


def test_too_long_sequences_are_refused_with_a_message(tiny_model, tmp_path):
    report = fold(
        {"ok": "MKTAYIAKQ", "huge": UBIQUITIN, "huge_complex": "MKTAYIAKQ:MKTAYIAKQ"},
        tmp_path,
        model=tiny_model,
        max_length=40,
        pictures=False,
        html=False,
        **FAST,
    )
    assert [r.status for r in report.results] == ["folded", "failed", "failed"]
    assert "76 residues (linkers included) exceed max_length=40" in report["huge"].error
    assert "43 residues" in report["huge_complex"].error  # 9 + 25 linker + 9


def test_batches_are_length_sorted_under_the_token_budget(tiny_model, tmp_path):
    sizes = []
    original = tiny_model.predict

    def recording(layouts, **kwargs):
        sizes.append([layout.total_length for layout in layouts])
        return original(layouts, **kwargs)

    tiny_model.predict = recording
    lengths = [30, 10, 20, 12, 28]
    try:
        fold(
            [UBIQUITIN[:n] for n in lengths],
            tmp_path,
            model=tiny_model,
            batch_tokens=60,
            max_length_ratio=None,
            pictures=False,
            html=False,
            **FAST,
        )
        assert sizes == [[10, 12, 20], [28, 30]]  # 3 x 20 <= 60; 3 x 28 > 60
        sizes.clear()
        fold(
            [UBIQUITIN[:n] for n in lengths],
            tmp_path,
            model=tiny_model,
            batch_tokens=60,
            max_length_ratio=1.25,
            overwrite=True,
            pictures=False,
            html=False,
            **FAST,
        )
        assert sizes == [[10, 12], [20], [28, 30]]  # 20 > 1.25 x 10; 30 <= 1.25 x 28
    finally:
        del tiny_model.predict


def test_options_are_validated_and_unknown_names_refused_by_name(tmp_path):
    from tfprot.errors import OptionError

    for bad, field in (
        ({"chunk_size": 0}, "chunk_size"),
        ({"num_recycles": -1}, "num_recycles"),
        ({"max_length_ratio": 0.5}, "max_length_ratio"),
        ({"batch_tokens": 0}, "batch_tokens"),
        ({"batch_tokens": "many"}, "batch_tokens"),
        ({"writers": -1}, "writers"),
        ({"compile": "fast"}, "compile"),
        ({"pictures": "yes"}, "pictures"),
    ):
        with pytest.raises(OptionError, match=field) as caught:
            FoldOptions(**bad)
        assert isinstance(caught.value, ValueError)  # still a ValueError for old callers
    with pytest.raises(OptionError, match="'num_recycle'; did you mean 'num_recycles'"):
        fold(["MKTAY"], tmp_path / "never", model="tiny-esmfold", num_recycle=0)
    assert not (tmp_path / "never").exists()  # refused before anything was made


def test_auto_batches_fill_free_gpu_memory_by_the_memory_model_and_one_at_a_time_on_cpu():
    from types import SimpleNamespace

    from tfprot.fold.inputs import FoldInput
    from tfprot.fold.jobs import Job, Run
    from tfprot.fold.ladder import batches
    from tfprot.fold.options import FoldOptions

    lengths = [200] * 20 + [230] * 5 + [400] * 4
    jobs = [Job(i, FoldInput(f"s{i}", ("A" * n,)), f"s{i}") for i, n in enumerate(lengths)]
    for job, n in zip(jobs, lengths, strict=True):
        job.layout = SimpleNamespace(total_length=n)

    def groups(device, free):
        loaded = SimpleNamespace(device=device, free_memory=lambda: free, trunk_dims=(128, 4))
        return [
            [j.length for j in g] for g in batches(Run(loaded, None, FoldOptions(), None), jobs)
        ]

    # By hand, the trunk's estimate 4 bytes * (12 L^2 128 + 3 * 4 * rows * L^2) for one
    # sequence: L=200 unchunked 629,760,000 bytes, L=230 909,004,800, L=400 4,055,040,000
    # (chunk 128: 1,966,080,000). 60% of 16 GiB = 10,307,921,510 bytes holds 16, 11 and 2 of
    # them; 60% of 4 GiB holds 4, 2 and (chunked) 1. 230 > 1.1 x 200: never in one batch.
    assert groups("cuda:0", 16 * 2**30) == [[200] * 16, [200] * 4, [230] * 5, [400] * 2, [400] * 2]
    assert groups("cuda:0", 4 * 2**30) == [[200] * 4] * 5 + [[230] * 2] * 2 + [[230]] + [[400]] * 4
    # On a CPU (no free-memory figure) each sequence is folded alone.
    assert all(len(g) == 1 for g in groups("cpu", None))


def test_the_output_folder_holds_no_temporary_files(folded):
    assert not [name for name in os.listdir(folded.output_dir) if name.startswith(".")]


def test_token_ids_go_in_and_the_structure_has_their_residues(tiny_model, esm_tokenizer, tmp_path):
    ids = np.full((2, 14), esm_tokenizer.pad_id, dtype=np.int32)  # a padded batch, as tf.data
    for row, sequence in enumerate(["MKTAYIAKQRQI", "GGSWKL"]):
        encoded = esm_tokenizer.encode(sequence)
        ids[row, : len(encoded)] = encoded
    report = fold(ids, tmp_path, model=tiny_model, pictures=False, html=False, **FAST)
    assert [chains_of(r.files["pdb"])["A"][0] for r in report.results] == ["MKTAYIAKQRQI", "GGSWKL"]


def _refold_lines(caplog):
    return [r.getMessage() for r in caplog.records if "folding again" in r.getMessage()]


def test_a_rerun_folds_again_what_changed_and_says_why(tiny_model, tmp_path, caplog):
    import logging

    from tfprot.fold.model import ESMFoldModel

    caplog.set_level(logging.INFO, logger="tfprot.fold")
    quiet = {"pictures": False, "html": False, "progress": False}
    inputs = {"one": "MKTAYIAKQ", "pair": "MKTAY:GGSWKL"}
    fold(inputs, tmp_path, model=tiny_model, num_recycles=0, **quiet)
    stored = json.loads((tmp_path / "one.json").read_text())
    assert stored["settings"]["model"] == "tiny-esmfold"
    assert stored["settings"]["model_revision"] == "untrained, seed 0"
    assert stored["num_recycles"] == 0

    def rerun(**changes):
        caplog.clear()
        report = fold(
            changes.pop("inputs", inputs),
            tmp_path,
            model=changes.pop("model", tiny_model),
            **{**quiet, **changes},
        )
        return [r.status for r in report.results], _refold_lines(caplog)

    # tiny-esmfold's default (max_recycles=1: one trunk pass) is 0 recycles: a true repeat.
    assert rerun(num_recycles=None) == (["skipped", "skipped"], [])
    status, lines = rerun(num_recycles=1)
    assert status == ["folded", "folded"] and all("num_recycles 0 -> 1" in x for x in lines)
    status, lines = rerun(num_recycles=1, chunk_size=4)
    assert status == ["folded", "folded"] and all("chunk_size None -> 4" in x for x in lines)
    assert rerun(num_recycles=1, chunk_size="auto")[0] == ["skipped", "skipped"]
    # The linker matters to the complex only.
    status, lines = rerun(num_recycles=1, linker_length=10)
    assert status == ["skipped", "folded"] and lines == [
        "pair: folding again: linker_length 25 -> 10"
    ]
    # Another model: same name, other weights (another seed) -> its revision differs.
    other = ESMFoldModel.load("tiny-esmfold", device="cpu", seed=1)
    status, lines = rerun(num_recycles=1, linker_length=10, model=other)
    assert status == ["folded", "folded"]
    assert all("model revision untrained, seed 0 -> untrained, seed 1" in x for x in lines)
    # A JSON of an older tfprot (no settings recorded) is folded again, saying so.
    record = json.loads((tmp_path / "one.json").read_text())
    del record["settings"]
    (tmp_path / "one.json").write_text(json.dumps(record))
    status, lines = rerun(num_recycles=1, linker_length=10, model=other)
    assert status == ["folded", "skipped"] and len(lines) == 1 and "older tfprot" in lines[0]
    # A changed sequence under the same id: folded again, and the PDB has the new residues.
    status, lines = rerun(
        inputs={"one": "GGSWKLLEV", "pair": "MKTAY:GGSWKL"},
        num_recycles=1,
        linker_length=10,
        model=other,
    )
    assert status == ["folded", "skipped"] and lines == [
        "one: folding again: sequence changed (same length, other residues or chains)"
    ]
    assert chains_of(tmp_path / "one.pdb")["A"][0] == "GGSWKLLEV"


def test_a_folder_fold_did_not_make_is_refused_and_an_empty_one_is_used(tiny_model, tmp_path):
    from tfprot.errors import OutputError

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me\n")
    with pytest.raises(OutputError, match="not a tfprot fold folder"):
        fold({"p": "MKTAYIAKQ"}, mine, model=tiny_model, **FAST)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".DS_Store").write_bytes(b"")  # hidden files do not count
    report = fold({"p": "MKTAYIAKQ"}, empty, model=tiny_model, pictures=False, html=False, **FAST)
    assert report["p"].status == "folded"


def test_an_out_of_memory_batch_is_halved_before_the_chunk_shrinks(tiny_model, tmp_path):
    calls = []
    original = tiny_model.predict

    def runs_out_above_two(layouts, *, chunk_size=None, **kwargs):
        calls.append((len(layouts), chunk_size))
        if len(layouts) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
        return original(layouts, chunk_size=chunk_size, **kwargs)

    tiny_model.predict = runs_out_above_two
    try:
        report = fold(
            [UBIQUITIN[:n] for n in (30, 31, 32, 33, 34)],
            tmp_path,
            model=tiny_model,
            batch_tokens=10_000,
            max_length_ratio=None,
            pictures=False,
            html=False,
            **FAST,
        )
    finally:
        del tiny_model.predict
    # 5 -> 3 + 2 -> (2 + 1) + 2, always unchunked; nobody fails, nobody is folded twice.
    assert calls == [(5, None), (3, None), (2, None), (1, None), (2, None)]
    assert [r.status for r in report.results] == ["folded"] * 5
    assert [r.attempts for r in report.results] == [3, 3, 3, 2, 2]


def test_files_are_written_in_the_background_while_the_next_batch_folds(
    tiny_model, tmp_path, monkeypatch
):
    import threading
    import time

    import tfprot.fold.writer as writer_module

    events = []
    original_write = writer_module.write_structure
    original_predict = tiny_model.predict

    def slow_write(folder, structure):
        events.append(("write-start", structure.id, threading.current_thread().name))
        time.sleep(0.5)
        result = original_write(folder, structure)
        events.append(("write-end", structure.id, threading.current_thread().name))
        return result

    def predict(layouts, **kwargs):
        events.append(("fold", layouts[0].total_length, threading.current_thread().name))
        return original_predict(layouts, **kwargs)

    monkeypatch.setattr(writer_module, "write_structure", slow_write)
    tiny_model.predict = predict
    try:
        inputs = {"a": "MKTAYIAKQ", "b": "GGSWKLLEVAA", "c": "MQIFVKTLTGKTI"}
        report = fold(
            inputs, tmp_path, model=tiny_model, writers=1, pictures=False, html=False, **FAST
        )
        names = {name for kind, _, name in events if kind == "write-start"}
        assert all(name.startswith("tfprot-fold-writer") for name in names), events
        order = [(kind, key) for kind, key, _ in events]
        # the second sequence was folding while the first one's files were being written
        assert order.index(("fold", 11)) < order.index(("write-end", "a")), order
        assert [r.id for r in report.results] == list(inputs)
        assert all(r.status == "folded" for r in report.results)
        events.clear()
        fold(
            inputs,
            tmp_path,
            model=tiny_model,
            writers="auto",  # on a CPU: in the folding thread
            overwrite=True,
            pictures=False,
            html=False,
            **FAST,
        )
        assert {name for kind, _, name in events if kind == "write-start"} == {
            threading.main_thread().name
        }
    finally:
        del tiny_model.predict


def test_a_writer_failure_fails_its_sequence_only_and_leaves_no_marker(tiny_model, tmp_path):
    from tfprot.fold.folder import prepare_output_folder

    prepare_output_folder(tmp_path)  # a fold folder (its summary.tsv)
    (tmp_path / "b.pae.png").mkdir()  # in which b's picture cannot replace a folder
    report = fold(
        {"a": "MKTAYIAKQ", "b": "GGSWKLLEV", "c": "MQIFVKTLT"},
        tmp_path,
        model=tiny_model,
        html=False,
        **FAST,
    )
    assert [r.status for r in report.results] == ["folded", "failed", "folded"]
    assert "id 'b': cannot write outputs" in report["b"].error
    assert not (tmp_path / "b.json").exists()  # not a finished structure: a rerun folds it
    with open(report.summary_path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert [(r["id"], r["status"]) for r in rows] == [
        ("a", "folded"),
        ("b", "failed"),
        ("c", "folded"),
    ]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def test_an_interrupted_run_leaves_only_finished_structures(tiny_model, tmp_path):
    original = tiny_model.predict
    calls = []

    def interrupted_second_time(layouts, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(layouts, **kwargs)

    tiny_model.predict = interrupted_second_time
    try:
        with pytest.raises(KeyboardInterrupt):
            fold({"a": "MKTAYIAKQ", "b": "GGSWKLLEVAA"}, tmp_path, model=tiny_model, **FAST)
    finally:
        del tiny_model.predict
    names = sorted(os.listdir(tmp_path))
    assert names == sorted(
        ["a.pdb", "a.pae.npy", "a.plddt.png", "a.pae.png", "a.html", "a.json", "summary.tsv"]
    )
    again = fold({"a": "MKTAYIAKQ", "b": "GGSWKLLEVAA"}, tmp_path, model=tiny_model, **FAST)
    assert [r.status for r in again.results] == ["skipped", "folded"]


def test_padded_lengths_change_no_result(tiny_model, tmp_path):
    """What --compile does on a GPU (lengths padded to buckets), checked on the CPU eagerly."""
    plain = fold(
        {"p": UBIQUITIN[:50]},
        tmp_path / "plain",
        model=tiny_model,
        html=False,
        pictures=False,
        **FAST,
    )
    tiny_model.length_buckets = True  # 50 -> 56 residues
    try:
        padded = fold(
            {"p": UBIQUITIN[:50]},
            tmp_path / "padded",
            model=tiny_model,
            html=False,
            pictures=False,
            **FAST,
        )
    finally:
        tiny_model.length_buckets = False
    a, b = (chains_of(r["p"].files["pdb"])["A"][2] for r in (plain, padded))
    coordinates = [np.array([atom.coord for atom in chain.get_atoms()]) for chain in (a, b)]
    assert np.abs(coordinates[0] - coordinates[1]).max() <= 1e-3
    assert padded["p"].ptm == pytest.approx(plain["p"].ptm, abs=1e-4)
