import pytest

from tfprot.data.sequences import RESIDUES, clean_sequence
from tfprot.errors import InvalidSequenceError, TfprotError


def test_normalises_case_white_space_and_trailing_stop():
    assert clean_sequence(" mkt\nAY iak\t*\n") == "MKTAYIAK"


def test_accepts_all_residues_including_rare_ones():
    assert clean_sequence(RESIDUES.lower()) == RESIDUES


@pytest.mark.parametrize(
    ("raw", "character", "position", "advice"),
    [
        ("MKT1AY", "1", 4, "Numbers are not residues"),
        ("MKTJAY", "J", 4, "replace unknown residues by X"),
        ("MK-TAY", "-", 3, "Alignment gaps"),
        ("MK.TAY", ".", 3, "Alignment gaps"),
        ("MK*TAY", "*", 3, "stop codon"),
        ("MKT@", "@", 4, "Allowed"),
    ],
)
def test_rejects_bad_characters_naming_record_character_and_position(
    raw, character, position, advice
):
    with pytest.raises(InvalidSequenceError) as info:
        clean_sequence(raw, where="x.fasta, line 7, id 'P1'")
    message = str(info.value)
    assert message.startswith("x.fasta, line 7, id 'P1': ")
    assert f"{character!r} at position {position}" in message
    assert advice in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, TfprotError)


@pytest.mark.parametrize("raw", ["", "   \n", "*"])
def test_rejects_empty_sequences(raw):
    with pytest.raises(InvalidSequenceError, match="empty sequence"):
        clean_sequence(raw, where="id 'e'")


def test_rejects_nucleotide_sequences_but_not_short_or_glycine_rich_peptides():
    with pytest.raises(InvalidSequenceError, match="looks like a DNA/RNA sequence"):
        clean_sequence("ATGGCCATTGTAATGGGCCGCTGAAAGGGTGCCCGATAG")
    with pytest.raises(InvalidSequenceError, match="DNA/RNA"):
        clean_sequence("AUGGCCAUUGUAAUGGGCCGCUGAAAGGGUGCCCGAUAG")
    assert clean_sequence("ACGTACGT") == "ACGTACGT"  # a short peptide is left alone
    assert clean_sequence("G" * 40) == "G" * 40  # a poly-glycine linker is a protein
    assert clean_sequence("GGGGSGGGGSGGGGSGGGGS") == "GGGGSGGGGSGGGGSGGGGS"


def test_long_sequence_error_quotes_an_excerpt_around_the_bad_character():
    raw = "M" * 200 + "1" + "K" * 200
    with pytest.raises(InvalidSequenceError) as info:
        clean_sequence(raw)
    message = str(info.value)
    assert "position 201" in message and "(length 401)" in message and len(message) < 400


def test_non_string_input_is_a_clear_error():
    with pytest.raises(InvalidSequenceError, match="must be a string"):
        clean_sequence(None)  # type: ignore[arg-type]
