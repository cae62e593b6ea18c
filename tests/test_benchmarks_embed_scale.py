"""benchmarks.embed_scale's arithmetic: the subset it writes and the tokens it counts, against
Biopython reading the shared FASTA file and tfprot's tokenizer windows."""

from __future__ import annotations

import itertools

import pytest
from Bio import SeqIO

from benchmarks import embed_scale


def test_subset_holds_the_first_chains_and_counts_their_tokens(tmp_path):
    if not embed_scale.SOURCE.is_file():
        pytest.skip(f"{embed_scale.SOURCE} is not here")
    path, residues, tokens = embed_scale.write_subset(600, tmp_path)  # one chain over 1,022
    expected = [str(r.seq) for r in itertools.islice(SeqIO.parse(embed_scale.SOURCE, "fasta"), 600)]
    assert any(len(s) > 1022 for s in expected)
    written = [str(r.seq) for r in SeqIO.parse(path, "fasta")]
    assert written == expected
    assert residues == sum(len(s) for s in expected)
    windows = [1 if len(s) <= 1022 else -(-(len(s) - 1022) // 767) + 1 for s in expected]
    assert tokens == residues + 2 * sum(windows)
    with pytest.raises(ValueError, match="fewer than"):
        embed_scale.write_subset(10**6, tmp_path)
