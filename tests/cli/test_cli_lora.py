"""``tfprot train --lora-rank R [--recompute]`` and ``tfprot push --adapters-only``."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from conftest import MAX_LENGTH, assert_one_line_error, run_cli
from safetensors.numpy import load_file

from tfprot.models.lora import TARGETS


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, cytosol_table):
    from tfprot.cli import main

    out = tmp_path_factory.mktemp("lora") / "run"
    argv = [
        "train",
        "--task",
        "classification",
        "--data",
        str(cytosol_table),
        "--checkpoint",
        "tiny-esm",
        "--epochs",
        "1",
        "--max-length",
        str(MAX_LENGTH),
        "--precision",
        "float32",
        "--lora-rank",
        "4",
        "--lora-targets",
        "all-linear",
        "--recompute",
        "--out",
        str(out),
    ]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(argv) == 0
    return out


def test_train_with_lora_saves_merged_weights_and_the_adapters(lora_run):
    model = lora_run / "model"
    metadata = json.loads((model / "tfprot.json").read_text())
    assert metadata["lora"]["rank"] == 4 and metadata["lora"]["alpha"] == 8.0
    assert metadata["recompute"] is True
    merged = load_file(str(model / "model.safetensors"))
    assert not [name for name in merged if "lora" in name]
    adapters = model / "adapters"
    config = json.loads((adapters / "adapter_config.json").read_text())
    assert config["targets"] == list(TARGETS) and config["base_checkpoint"] == "tiny-esm"
    tensors = load_file(str(adapters / "adapter_model.safetensors"))
    # 2 layers × 6 targets × (A, B), and the head (dense and out_proj: kernel and bias).
    assert len([name for name in tensors if name.endswith(("/lora_A", "/lora_B"))]) == 24
    assert {name for name in tensors if "lora" not in name} == {
        f"classifier/{part}/{kind}" for part in ("dense", "out_proj") for kind in ("kernel", "bias")
    }
    assert sum(t.nbytes for t in tensors.values()) < sum(t.nbytes for t in merged.values()) / 2


def test_push_adapters_only_stages_the_small_folder_with_a_card_naming_the_base(
    capsys, lora_run, tmp_path
):
    stage = tmp_path / "stage"
    argv = ["push", "--model", str(lora_run / "model"), "--repo", "me/lora-demo"]
    code, out, err = run_cli(capsys, [*argv, "--adapters-only", "--dry-run", "--stage", str(stage)])
    assert code == 0, err
    files = sorted(path.name for path in stage.iterdir())
    assert "adapter_model.safetensors" in files and "adapter_config.json" in files
    assert "model.safetensors" not in files and "config.json" not in files
    assert "metrics.json" in files  # from beside the model folder
    card = (stage / "README.md").read_text()
    assert "Adapters only: the base checkpoint is needed" in card
    assert "**`tiny-esm`**" in card and "LoRA rank 4, alpha 8" in card
    assert "- adapters-only" in card and "- lora" in card
    assert "need the base tiny-esm" in out


def test_push_adapters_only_without_adapters_is_one_clear_error(capsys, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "tfprot.json").write_text(json.dumps({"task": "regression"}))
    argv = ["push", "--model", str(model), "--repo", "me/x", "--adapters-only", "--dry-run"]
    code, _, err = run_cli(capsys, argv)
    assert_one_line_error(code, err, "no LoRA adapters", "--adapters-only")


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--lora-alpha", "16"], "need --lora-rank"),
        (["--lora-rank", "4", "--lora-targets", "query,valeu"], "Did you mean 'value'"),
        (["--lora-rank", "0"], "lora_rank must be"),
    ],
)
def test_bad_lora_options_fail_before_any_work(capsys, cytosol_table, tmp_path, extra, needle):
    argv = ["train", "--task", "classification", "--data", str(cytosol_table)]
    argv += ["--checkpoint", "tiny-esm", "--out", str(tmp_path / "out"), *extra]
    code, _, err = run_cli(capsys, argv)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "out").exists()
