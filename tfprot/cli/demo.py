"""``tfprot demo``: the main job, offline, on the bundled data set.

Fine-tunes the offline ``tiny-esm`` preset (the ESM-2 architecture at a tiny size, random
weights) on the bundled cytosol vs plasma-membrane data (MultiLoc) for a short run, reports test
accuracy beside the majority-class baseline, predicts a few test sequences, saves the model and
its learning curves, folds one test sequence with the offline ``tiny-esmfold`` preset (untrained:
it shows the pipeline, not a real structure) and says where every output went.

Example:
    tfprot demo --epochs 6 --out demo_output
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from tfprot.cli import add_common_options, add_precision_option, interactive, run_command
from tfprot.cli._plots import plot_learning_curves


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfprot demo",
        description=__doc__.split("\n\n")[1],
        epilog="Example: tfprot demo --epochs 6 --out demo_output",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--epochs", type=int, default=6, help="training epochs (default 6)")
    parser.add_argument(
        "--max-length",
        type=int,
        default=256,
        help="tokens per sequence; longer ones are truncated (default 256: the N-terminal "
        "signal and anchor regions)",
    )
    parser.add_argument(
        "--batch-tokens", type=int, default=4096, help="token budget per batch (default 4096)"
    )
    add_precision_option(parser)
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="peak learning rate (default: tfprot's choice for random weights, 1e-3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and shuffling")
    parser.add_argument(
        "--out", type=Path, default=Path("demo_output"), help="where the outputs are written"
    )
    parser.add_argument(
        "--no-fold", action="store_true", help="skip folding (it needs the fold extra: torch)"
    )
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    import tensorflow as tf

    import tfprot

    started = time.perf_counter()
    tf.keras.utils.set_random_seed(args.seed)
    data = tfprot.ProteinDataset.example(seed=args.seed)
    print("tfprot demo (offline)")
    _describe_data(data)
    model = tfprot.sequence_classifier(
        "tiny-esm", data, precision=args.precision, learning_rate=args.learning_rate
    )
    print(
        f"  model     : tiny-esm (ESM-2 architecture, {model.transformer.count_params():,} "
        "parameters, UNTRAINED random weights)"
    )
    print(f"  precision : {model.info['precision']} ({model.info['precision_reason']})")
    history = _train_and_test(model, data, args)
    _show_predictions(model, data)
    saved = model.save_pretrained(args.out / "model")
    print(f"  saved     : {saved}/ (reload with tfprot.load_model('{saved}'))")
    curves = plot_learning_curves(
        history,
        args.out / "learning_curves.png",
        title=f"tfprot demo: tiny-esm on cytosol vs membrane ({args.epochs} epochs)",
    )
    outputs = [("model", f"{saved}/"), ("learning curves", str(curves))]
    if not args.no_fold:
        outputs += _fold_one(data.records("test"), args.out / "fold")
    print("  outputs:")
    for what, where in outputs:
        print(f"    {what:<16}: {where}")
    print(f"  done in {time.perf_counter() - started:.0f} s")
    fold = "" if args.no_fold else " --fold-model tiny-esmfold"
    print(f"  web app   : tfprot app --model {saved}{fold}  (then open http://127.0.0.1:7860)")
    return 0


def _describe_data(data) -> None:
    from tfprot.data import EXAMPLES

    summary = data.summary()
    print(f"  data      : {EXAMPLES['cytosol_membrane']}")
    print(f"  task      : {data.task.name}, classes {list(data.label_encoder.classes)}")
    for split in ("train", "validation", "test"):
        part = summary[split]
        counts = ", ".join(f"{name} {count}" for name, count in part["targets"].items())
        print(f"  {split:<10}: {part['records']:>5} sequences ({counts})")


def _train_and_test(model, data, args: argparse.Namespace) -> dict[str, list[float]]:
    """Fit on the token-budget batches (their padding said beside plain batches of 8), then
    score the test split beside the majority baseline; returns Keras' history."""
    from tfprot.data import padded_fraction, plain_batches_padded_fraction

    options = {"batch_tokens": args.batch_tokens, "max_length": args.max_length}
    train, validation, test = (
        data.tf_dataset(split, model.tokenizer, **options)
        for split in ("train", "validation", "test")
    )
    lengths = data.encode("train", model.tokenizer, max_length=args.max_length).lengths
    print(
        f"  batching  : {int(train.cardinality())} batches of <= {args.batch_tokens} tokens, "
        f"padding {padded_fraction(train):.1%} (plain batches of 8: "
        f"{plain_batches_padded_fraction(lengths, 8):.1%})"
    )
    fit_started = time.perf_counter()
    history = model.fit(train, validation_data=validation, epochs=args.epochs, verbose=2).history
    fit_seconds = time.perf_counter() - fit_started
    scores = model.evaluate(test, return_dict=True, verbose=0)
    baseline = data.majority_baseline("test")
    print(f"  training  : {args.epochs} epochs in {fit_seconds:.0f} s")
    print(
        f"  test      : accuracy {scores['accuracy']:.1%}, macro-F1 {scores['macro_f1']:.3f}, "
        f"MCC {scores['mcc']:.3f}"
    )
    print(
        f"  baseline  : always '{baseline['prediction']}' scores {baseline['accuracy']:.1%} "
        "test accuracy"
    )
    return history


def _show_predictions(model, data) -> None:
    """Two test sequences of each class: truth, prediction and its probability."""
    print("  predictions (test sequences, two of each class):")
    test_records = data.records("test")
    records = [
        record
        for name in data.label_encoder.classes
        for record in [r for r in test_records if r.label == name][:2]
    ]
    for record, prediction in zip(records, model.predict_sequences(records), strict=True):
        confidence = prediction.probabilities[prediction.label]
        print(
            f"    {record.id:<12} true {record.label:<16} predicted {prediction.label:<16} "
            f"({confidence:.0%})"
        )


def _fold_one(records, folder: Path) -> list[tuple[str, str]]:
    """Fold the shortest test sequence with the offline, untrained ``tiny-esmfold`` preset."""
    from tfprot.errors import MissingDependencyError
    from tfprot.fold import fold

    record = min(records, key=lambda r: (len(r), r.id))
    try:
        report = fold(
            [record],
            folder,
            model="tiny-esmfold",
            num_recycles=0,
            device="cpu",
            progress=interactive(),
        )
    except MissingDependencyError as error:
        print(f"  fold      : skipped ({error})")
        return []
    result = report.results[0]
    if not result.ok:
        print(f"  fold      : {record.id} failed: {result.error}")
        return [("fold summary", str(report.summary_path))]
    print(
        f"  fold      : {record.id} ({result.length} residues) with tiny-esmfold, UNTRAINED "
        f"weights: pLDDT {result.mean_plddt:.1f} means nothing; use --checkpoint "
        "facebook/esmfold_v1 with tfprot fold for real structures"
    )
    names = {
        "pdb": "structure (PDB)",
        "html": "3D view (HTML)",
        "plddt_png": "pLDDT plot",
        "pae_png": "PAE heat map",
    }
    return [
        (label, str(result.files[kind])) for kind, label in names.items() if kind in result.files
    ]


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
