"""Shared values of the zero-shot tests."""

GB1 = "MQYKLILNGKTLKGETTTEAVDAATAEKVFKQYANDNGVDGEWTYDDATKTFTVTE"
"""Protein G's B1 domain (56 residues), the wild type of the GB1 fitness landscape."""


def write_gb1_inputs(folder, shared_data, count: int = 300):
    """``gb1_wildtype.fasta`` and ``gb1_dms.csv`` (ProteinGym's columns: ``mutant``,
    ``mutated_sequence``, ``DMS_score``) in ``folder``, from the first ``count`` FLIP GB1 variants:
    the wild type is the sequence measured at fitness 1.0 (Wu et al. normalise to it). Returns
    the two paths; the same files ``examples/zero_shot_gb1.py`` writes, fewer variants."""
    import csv
    from pathlib import Path

    folder = Path(folder)
    with open(Path(shared_data) / "flip_gb1" / "sampled.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    wildtype = next(row["sequence"] for row in rows if float(row["target"]) == 1.0)
    fasta, dms = folder / "gb1_wildtype.fasta", folder / "gb1_dms.csv"
    fasta.write_text(f">GB1_wildtype\n{wildtype}\n")
    with dms.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["mutant", "mutated_sequence", "DMS_score"])
        for row in rows[:count]:
            changes = [
                f"{w}{i + 1}{m}"
                for i, (w, m) in enumerate(zip(wildtype, row["sequence"], strict=True))
                if w != m
            ]
            writer.writerow([":".join(changes) or "WT", row["sequence"], row["target"]])
    return fasta, dms
