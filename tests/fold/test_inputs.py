"""Every input form, including the TF -> PyTorch bridge from the data pipeline's token ids."""

import numpy as np
import pytest

from tfprot.data import ProteinRecord, encode_records, make_tf_dataset, read_fasta_dir
from tfprot.errors import DataFileNotFoundError, DataFormatError
from tfprot.fold.inputs import FoldInput, InputProblem, collect_inputs, decode_token_ids


def test_fasta_with_a_bad_entry_reports_it_by_id_and_line(tmp_path):
    path = tmp_path / "in.fasta"
    path.write_text(">good\nMKTAY\n>complex two chains\nMKT:GGSW\n>bad\nMKJTAY\n>empty\n\n")
    items = collect_inputs(path)
    assert items[0] == FoldInput("good", ("MKTAY",))
    assert items[1] == FoldInput("complex", ("MKT", "GGSW"))
    assert isinstance(items[2], InputProblem) and items[2].id == "bad"
    assert "line 5" in items[2].message and "'J'" in items[2].message
    assert isinstance(items[3], InputProblem) and "empty sequence" in items[3].message


def test_lists_pairs_dicts_and_records():
    assert [i.id for i in collect_inputs(["MKT", "GGS"])] == ["seq0", "seq1"]
    assert collect_inputs([("a", "mk t")]) == [FoldInput("a", ("MKT",))]
    assert collect_inputs("MKTAY") == [FoldInput("seq0", ("MKTAY",))]
    records = [ProteinRecord("r1", "MKT"), ProteinRecord("r2", "GGSW")]
    assert [i.sequence for i in collect_inputs(records)] == ["MKT", "GGSW"]
    with pytest.raises(DataFormatError, match="appears twice"):
        collect_inputs([("a", "MKT"), ("a", "GGS")])
    with pytest.raises(DataFormatError, match="empty"):
        collect_inputs([])
    with pytest.raises(DataFileNotFoundError):
        collect_inputs("no/such/file.fasta")


def test_token_ids_from_the_real_tf_data_pipeline_decode_to_the_records(shared_data, esm_tokenizer):
    records = read_fasta_dir(shared_data / "multiloc")[:40]
    examples = encode_records(records, esm_tokenizer)
    dataset = make_tf_dataset(examples, with_labels=False)  # bucketed, padded, reordered
    decoded = decode_token_ids(dataset)
    truncated = {r.sequence[: esm_tokenizer.max_residues] for r in records}
    assert len(decoded) == len(records) and set(decoded) == truncated


def test_protbert_ids_decode_with_their_tokenizer(bert_tokenizer):
    ids = np.stack([bert_tokenizer.encode("MKTAY"), bert_tokenizer.encode("GGSWL")])
    assert decode_token_ids(ids, tokenizer=bert_tokenizer) == ["MKTAY", "GGSWL"]


def test_a_mask_token_in_the_ids_is_reported_for_its_row(esm_tokenizer):
    ids = esm_tokenizer.encode("MKTAY")
    masked = ids.copy()
    masked[2] = esm_tokenizer.tokenizer.mask_token_id
    items = collect_inputs(np.stack([ids, masked]))
    assert items[0] == FoldInput("seq0", ("MKTAY",))
    assert isinstance(items[1], InputProblem) and items[1].id == "seq1"
    assert "'<'" in items[1].message
