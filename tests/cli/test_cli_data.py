"""How the commands read data files: Excel's byte-order marks, text that is not UTF-8, one class
only, and repeated ids (``--duplicates``).

The files are real sequences (the bundled MultiLoc set, FLIP's bind split) written here as bytes;
the outputs are compared with the ids as written, and with the same command on the same file
without a byte-order mark.
"""

from __future__ import annotations

import csv
import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, bundled_entries, run_cli

BIND = Path(__file__).resolve().parents[1] / "data" / "flip_bind"
CLASSES = ["cytoplasmic", "plasma_membrane"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """An untrained tiny classifier saved as `tfprot train` saves one (reading is what is tested)."""
    import tfprot

    folder = tmp_path_factory.mktemp("model") / "model"
    tfprot.sequence_classifier("tiny-esm", CLASSES, precision="float32").save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def entries() -> list[tuple[str, str, str]]:
    """(id, sequence, class): six real sequences of at most 120 residues, three of each class."""
    chosen = bundled_entries(40, longest=120)
    return chosen[:3] + chosen[-3:]


def write_table(path: Path, entries, *, encoding: str, delimiter: str = ",") -> Path:
    """A table as Excel writes it: ``utf-8-sig`` is "CSV UTF-8" (a byte-order mark, CRLF)."""
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(["id", "sequence", "location"])
        writer.writerows(entries)
    return path


def predicted(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def tfprot_command() -> list[str]:
    script = Path(sys.executable).with_name("tfprot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tfprot"]


def test_predict_reads_excel_csv_utf8_in_a_real_subprocess(capsys, tmp_path, tiny_model, entries):
    excel = write_table(tmp_path / "excel.csv", entries, encoding="utf-8-sig")
    assert excel.read_bytes().startswith(b"\xef\xbb\xbfid,sequence,location\r\n")
    result = subprocess.run(
        [
            *tfprot_command(),
            "predict",
            "--model",
            str(tiny_model),
            "--input",
            str(excel),
            "--out",
            str(tmp_path / "excel_predictions.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    rows = predicted(tmp_path / "excel_predictions.csv")
    assert [row["id"] for row in rows] == [e[0] for e in entries]  # not row1, row2...

    plain = write_table(tmp_path / "plain.csv", entries, encoding="utf-8")
    code, _, err = run_cli(
        capsys,
        [
            "predict",
            "--model",
            str(tiny_model),
            "--input",
            str(plain),
            "--out",
            str(tmp_path / "plain_predictions.csv"),
        ],
    )
    assert code == 0, err
    assert rows == predicted(tmp_path / "plain_predictions.csv")


@pytest.mark.parametrize("kind", ["fasta", "fasta.gz", "tsv"])
def test_predict_reads_fasta_and_tsv_with_a_byte_order_mark(
    capsys, tmp_path, tiny_model, entries, kind
):
    if kind == "tsv":
        path = write_table(tmp_path / "x.tsv", entries, encoding="utf-8-sig", delimiter="\t")
    else:
        data = b"\xef\xbb\xbf" + "".join(f">{i} {c}\n{s}\n" for i, s, c in entries).encode()
        path = tmp_path / f"x.{kind}"
        path.write_bytes(gzip.compress(data) if kind.endswith(".gz") else data)
    target = tmp_path / "p.csv"
    code, _, err = run_cli(
        capsys,
        ["predict", "--model", str(tiny_model), "--input", str(path), "--out", str(target)],
    )
    assert code == 0, err
    assert [row["id"] for row in predicted(target)] == [e[0] for e in entries]


def train_argv(tmp_path: Path, data: Path, *extra: str, task: str = "classification"):
    return [
        "train",
        "--task",
        task,
        "--data",
        str(data),
        "--checkpoint",
        "tiny-esm",
        "--out",
        str(tmp_path / "out"),
        *extra,
    ]


def test_train_reads_excel_csv_utf8_columns(capsys, tmp_path, entries):
    # Train and validation rows only: the command reads the data, says what it chose, and stops
    # at the empty test split before building a model.
    rows = [(i, s, c, "train" if n % 3 else "validation") for n, (i, s, c) in enumerate(entries)]
    path = tmp_path / "excel.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "sequence", "location", "set"])
        writer.writerows(rows)
    code, out, err = run_cli(capsys, train_argv(tmp_path, path))
    assert "id='id' (detected)" in out and "label='location' (detected)" in out
    assert_one_line_error(code, err, "the test split is empty")


def test_text_that_is_not_utf8_is_one_line_naming_file_line_and_byte(
    capsys, tmp_path, tiny_model, entries
):
    latin = write_table(tmp_path / "latin.csv", entries, encoding="latin-1")
    data = latin.read_bytes().replace(b"plasma_membrane", b"membrane plasmique \xe9")
    latin.write_bytes(data)
    line = data[: data.index(b"\xe9")].count(b"\n") + 1
    offset = data.index(b"\xe9")
    for argv in (
        [
            "predict",
            "--model",
            str(tiny_model),
            "--input",
            str(latin),
            "--out",
            str(tmp_path / "p"),
        ],
        train_argv(tmp_path, latin),
    ):
        code, _, err = run_cli(capsys, argv)
        assert_one_line_error(
            code, err, f"{latin}, line {line} (byte offset {offset}): not UTF-8", "save the file"
        )
    binary = tmp_path / "model.fasta"
    binary.write_bytes((tiny_model / "model.safetensors").read_bytes()[:4096])
    code, _, err = run_cli(
        capsys,
        [
            "predict",
            "--model",
            str(tiny_model),
            "--input",
            str(binary),
            "--out",
            str(tmp_path / "p"),
        ],
    )
    assert_one_line_error(code, err, str(binary), "not UTF-8")
    assert not (tmp_path / "p").exists()


def test_one_class_only_names_the_file_and_the_column(capsys, tmp_path, entries):
    path = write_table(
        tmp_path / "one.csv", [(i, s, "cytoplasmic") for i, s, _ in entries], encoding="utf-8"
    )
    code, _, err = run_cli(capsys, train_argv(tmp_path, path))
    assert_one_line_error(
        code, err, str(path), "the same label 'cytoplasmic'", "label column 'location'"
    )
    assert "--label-column" in err


def test_train_refuses_conflicting_repeats_of_the_real_bind_split(capsys, tmp_path):
    code, _, err = run_cli(capsys, train_argv(tmp_path, BIND, task="token"))
    assert_one_line_error(
        code,
        err,
        "one_vs_many.fasta.gz: 13 duplicate ids with different contents",
        "(33 other ids repeat exactly; kept once.)",
        "--duplicates first|last",
    )


def test_duplicates_option_chooses_and_is_checked(capsys, tmp_path, entries):
    rows = [(i, s, c, "train" if n % 3 else "validation") for n, (i, s, c) in enumerate(entries)]
    first = rows[0]
    rows.append((first[0], first[1], CLASSES[1] if first[2] == CLASSES[0] else CLASSES[0], "train"))
    path = tmp_path / "repeats.csv"
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([("id", "sequence", "location", "set"), *rows])
    code, _, err = run_cli(capsys, train_argv(tmp_path, path))
    assert_one_line_error(code, err, f"1 duplicate id with different contents: {first[0]!r}")

    code, out, err = run_cli(capsys, train_argv(tmp_path, path, "--duplicates", "last"))
    assert "duplicates: the last occurrence of a repeated id kept" in out
    train, validation = (sum(r[3] == split for r in rows[1:]) for split in ("train", "validation"))
    assert f"train     : {train:>6} records" in out  # the first row is the one dropped
    assert f"validation: {validation:>6} records" in out
    assert_one_line_error(code, err, "the test split is empty")

    with pytest.raises(SystemExit) as info:
        run_cli(capsys, train_argv(tmp_path, path, "--duplicates", "keep"))
    assert info.value.code == 2 and "invalid choice: 'keep'" in capsys.readouterr().err


def test_predict_and_embed_take_the_duplicates_option(capsys, tmp_path, tiny_model, entries):
    first_id, first_sequence, _ = entries[0]
    other = entries[1][1]
    text = "".join(f">{i}\n{s}\n" for i, s, _ in entries) + f">{first_id}\n{other}\n"
    path = tmp_path / "repeats.fasta"
    path.write_text(text)
    base = ["--model", str(tiny_model), "--input", str(path)]
    code, _, err = run_cli(capsys, ["predict", *base, "--out", str(tmp_path / "p.csv")])
    assert_one_line_error(code, err, f"1 duplicate id with different contents: {first_id!r}")
    target = tmp_path / "last.csv"
    code, _, err = run_cli(capsys, ["predict", *base, "--out", str(target), "--duplicates", "last"])
    assert code == 0, err
    rows = {row["id"]: row for row in predicted(target)}
    assert sorted(rows) == sorted(e[0] for e in entries)
    # the kept occurrence carries the second entry's sequence: the same scores as that entry
    scores = {key: value for key, value in rows[first_id].items() if key != "id"}
    assert scores == {key: value for key, value in rows[entries[1][0]].items() if key != "id"}
    assert other != first_sequence
    npz = tmp_path / "e.npz"
    embed = ["embed", "--checkpoint", str(tiny_model), "--input", str(path), "--out", str(npz)]
    code, _, err = run_cli(capsys, embed)
    assert_one_line_error(code, err, f"1 duplicate id with different contents: {first_id!r}")
    code, _, err = run_cli(capsys, [*embed, "--duplicates", "first"])
    assert code == 0, err
