"""tfprot.zeroshot: what ESM-2's masked-LM head gives without fine-tuning.

Variant-effect scores (:func:`score_variants`: masked marginals, wild-type marginals,
pseudo-likelihoods) and contact maps (:func:`contacts`: the checkpoint's logistic regression over
its attention maps), with their checks: mutations in the field's notation against the wild type,
Spearman's ρ against measurements, contact precision against a structure. Importing it imports
no TensorFlow; the functions that run a model do.
"""

from tfprot.zeroshot.contact_maps import ContactMap, contact_precisions, contacts
from tfprot.zeroshot.model import MaskedLanguageModel, load_masked_lm
from tfprot.zeroshot.mutations import (
    MutationTable,
    Substitution,
    apply_mutant,
    parse_mutant,
    read_mutation_table,
)
from tfprot.zeroshot.scoring import METHODS, VariantScores, score_variants, spearman

__all__ = [
    "METHODS",
    "ContactMap",
    "MaskedLanguageModel",
    "MutationTable",
    "Substitution",
    "VariantScores",
    "apply_mutant",
    "contact_precisions",
    "contacts",
    "load_masked_lm",
    "parse_mutant",
    "read_mutation_table",
    "score_variants",
    "spearman",
]
