"""`tfprot uniprot` against a real HTTP server on 127.0.0.1, and `--help` of every command."""

from __future__ import annotations

import csv
import socket
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "uniprot"))
from uniprot_server import UniProtServer, flip_entries, multiloc_entries

QUERY = "organism_id:9606 AND reviewed:true"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch, tmp_path):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TFPROT_UNIPROT_URL", raising=False)
    monkeypatch.setenv("TFPROT_CACHE", str(tmp_path / "cache"))


def test_uniprot_writes_a_table_that_train_reads_back(capsys, tmp_path, shared_data):
    import tfprot

    entries = multiloc_entries(shared_data, 15)
    target = tmp_path / "cm.csv"
    with UniProtServer([dict(e) for e in entries]) as server:
        url = server.url
        code, stdout, err = run_cli(
            capsys,
            [
                "uniprot",
                "--query",
                QUERY,
                "--labeler",
                "cytosol-membrane",
                "--url",
                url,
                "--out",
                str(target),
            ],
        )
    assert code == 0, err
    assert "30 rows from UniProt, release 2025_01" in stdout and "kept 30 of 30 rows" in stdout
    with open(target, newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = {"cytoplasmic": "cytosolic", "plasma_membrane": "membrane"}
    assert [(r["id"], r["sequence"], r["label"]) for r in rows] == [
        (e["accession"], e["sequence"], expected[e["_class"]]) for e in entries
    ]
    records = tfprot.read_records(target)  # what `tfprot train --data` reads
    assert [(r.id, r.label) for r in records] == [(r["id"], r["label"]) for r in rows]

    # A rerun with the server gone reads the cache.
    code, stdout, err = run_cli(
        capsys,
        [
            "uniprot",
            "--query",
            QUERY,
            "--labeler",
            "cytosol-membrane",
            "--url",
            url,
            "--out",
            str(tmp_path / "again.csv"),
        ],
    )
    assert code == 0, err
    assert "from cache" in stdout
    assert (tmp_path / "again.csv").read_text() == target.read_text()


def test_uniprot_secondary_structure_writes_a_flip_folder(capsys, tmp_path, shared_data):
    import tfprot

    entries = flip_entries(shared_data, 8)
    with UniProtServer([dict(e) for e in entries]) as server:
        code, _, err = run_cli(
            capsys,
            [
                "uniprot",
                "--query",
                QUERY,
                "--labeler",
                "secondary-structure",
                "--url",
                server.url,
                "--out",
                str(tmp_path / "ss"),
            ],
        )
    assert code == 0, err
    records = tfprot.read_records(tmp_path / "ss", format="flip")
    assert [(r.id, r.residue_labels) for r in records] == [
        (e["accession"], e["_labels"]) for e in entries
    ]


def test_uniprot_raw_fields_and_unreachable_server(capsys, tmp_path, shared_data):
    entries = multiloc_entries(shared_data, 3)
    with UniProtServer([dict(e) for e in entries]) as server:
        code, _, err = run_cli(
            capsys,
            [
                "uniprot",
                "--query",
                QUERY,
                "--fields",
                "accession,sequence,length",
                "--url",
                server.url,
                "--out",
                str(tmp_path / "raw.tsv"),
            ],
        )
    assert code == 0, err
    lines = (tmp_path / "raw.tsv").read_text().splitlines()
    assert lines[0] == "Entry\tSequence\tLength" and len(lines) == 7
    assert lines[1].split("\t")[2] == str(len(entries[0]["sequence"]))

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = run_cli(
        capsys,
        [
            "uniprot",
            "--query",
            QUERY,
            "--labeler",
            "compartments",
            "--url",
            f"http://127.0.0.1:{port}",
            "--retries",
            "0",
            "--out",
            str(tmp_path / "x.csv"),
        ],
    )
    assert_one_line_error(code, err, f"127.0.0.1:{port}")
    assert not (tmp_path / "x.csv").exists()
    code, _, err = run_cli(capsys, ["uniprot", "--query", QUERY, "--out", str(tmp_path / "y")])
    assert_one_line_error(code, err, "--fields")


@pytest.mark.parametrize(
    "command", ["train", "predict", "embed", "fold", "uniprot", "export", "demo", "info"]
)
def test_every_command_has_help_with_an_example(capsys, command):
    from tfprot.cli import COMMANDS, main

    assert command in COMMANDS
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: tfprot {command}" in out
    assert f"Example: tfprot {command}" in out or f"Example:\n  tfprot {command}" in out
    assert "--debug" in out


def test_top_level_help_lists_the_commands(capsys):
    from tfprot.cli import main

    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "predict", "embed", "fold", "uniprot", "export", "push", "demo"):
        assert command in out


def test_cli_precision_choices_are_the_librarys_policies():
    from tfprot.cli import PRECISIONS
    from tfprot.models.precision import POLICIES

    assert ("auto", *POLICIES) == PRECISIONS
