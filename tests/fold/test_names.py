"""Output file names from arbitrary ids: inside the folder, valid everywhere, never colliding."""

import re

import pytest

from tfprot.errors import DataFormatError
from tfprot.fold.names import MAX_NAME_LENGTH, safe_name, safe_names

NASTY = [
    "../../x",
    "..",
    ".",
    "a/b",
    "a\\b",
    "/etc/passwd",
    "with space",
    "αβγ-protein",
    "蛋白质",
    ".hidden",
    "-rf",
    "CON",
    "nul.txt",
    "x" * 300,
    "",
    "sp|P69905|HBA_HUMAN",
]


def test_plain_ids_keep_their_name():
    assert safe_name("P69905") == "P69905"
    assert safe_name("HBA_HUMAN.1-2") == "HBA_HUMAN.1-2"


@pytest.mark.parametrize("identifier", NASTY)
def test_unsafe_ids_become_plain_names(identifier, tmp_path):
    name = safe_name(identifier)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name), name
    assert not name.startswith((".", "-")) and len(name) <= MAX_NAME_LENGTH
    assert (tmp_path / f"{name}.pdb").resolve().parent == tmp_path.resolve()


def test_no_two_ids_share_a_name_even_ignoring_case():
    ids = [*NASTY, "a_b", "a b", "A/B", "ABC", "abc", "x" * 301]
    names = safe_names(ids)
    assert len({name.lower() for name in names}) == len(ids)


def test_a_repeated_id_is_an_error():
    with pytest.raises(DataFormatError, match="unique ids"):
        safe_names(["P1", "P1"])
