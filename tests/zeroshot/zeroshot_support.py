"""Shared values of the zero-shot tests."""

GB1 = "MQYKLILNGKTLKGETTTEAVDAATAEKVFKQYANDNGVDGEWTYDDATKTFTVTE"
"""Protein G's B1 domain (56 residues), the wild type of the GB1 fitness landscape."""
