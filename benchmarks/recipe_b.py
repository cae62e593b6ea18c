"""Recipe B: the Hugging Face PyTorch fine-tuning notebook, on the CPU build of torch.

``EsmForSequenceClassification`` with ``Trainer`` (batch 8, learning rate 2e-5, weight decay 0.01)
and the default ``DataCollatorWithPadding`` (each batch padded to its longest sequence), float32,
with transformers' default attention for ESM (PyTorch's fused ``scaled_dot_product_attention``).
Evaluation, checkpoint saving and logging integrations are off: only training is timed.

A first ``train()`` on a few other sequences warms up; then ``--epochs`` epochs over the
benchmark sequences are timed, and their median is reported.

Run alone: ``python -m benchmarks.recipe_b --size esm2_t6_8M --count 160 --epochs 1``
"""

from __future__ import annotations

import argparse
import tempfile
import time

from benchmarks.common import (
    SIZES,
    checkpoint_folder,
    emit,
    load_subset,
    training_row,
    warmup_subset,
)


def measure(size_name: str, count: int, epochs: int, warmup: int, peak_flops: float | None = None):
    import numpy as np
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    size = SIZES[size_name]
    folder = str(checkpoint_folder(size))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)

    class EpochClock(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []

        def on_epoch_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_epoch_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self.start)

    def trainer_for(subset, output: str, epochs: int, callbacks=()) -> Trainer:
        train_dataset = Dataset.from_dict(tokenizer(list(subset.sequences)))
        train_dataset = train_dataset.add_column("labels", list(subset.labels))
        args = TrainingArguments(
            output,
            learning_rate=2e-5,
            per_device_train_batch_size=8,
            num_train_epochs=epochs,
            weight_decay=0.01,
            eval_strategy="no",
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            disable_tqdm=True,
            logging_strategy="no",
            seed=0,
        )
        return Trainer(
            model,
            args,
            train_dataset=train_dataset,
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
            callbacks=list(callbacks),
        )

    clock = EpochClock()
    subset = load_subset(count)
    with tempfile.TemporaryDirectory() as output:
        trainer_for(warmup_subset(warmup), output, 1).train()
        trainer = trainer_for(subset, output, epochs, [clock])
        masks = [np.asarray(batch["attention_mask"]) for batch in trainer.get_train_dataloader()]
        pad = 1 - sum(int(m.sum()) for m in masks) / sum(m.size for m in masks)
        trainer.train()
    return training_row(
        "recipe_b_hf_pytorch",
        size,
        subset,
        clock.seconds,
        pad,
        peak_flops,
        precision="float32",
        attention=model.config._attn_implementation,
        torch_threads=torch.get_num_threads(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="esm2_t6_8M", choices=sorted(SIZES))
    parser.add_argument("--count", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs (the median counts)")
    parser.add_argument("--warmup", type=int, default=16, help="sequences of the warm-up run")
    parser.add_argument("--peak-flops", type=float, default=None)
    args = parser.parse_args()
    emit([measure(args.size, args.count, args.epochs, args.warmup, args.peak_flops)])


if __name__ == "__main__":
    main()
