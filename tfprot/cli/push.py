"""``tfprot push``: upload a saved model to the 🤗 Hub with a generated model card.

Stages the model folder (weights, config, tokenizer, tfprot.json, and metrics.json/history.csv
from beside it) with a README.md model card written from what tfprot recorded, creates the
repository if needed and uploads everything in one commit. The token comes from $HF_TOKEN (or the
variable named by --token-env) or from 'hf auth login'; it is never printed. $HF_ENDPOINT points
at another Hub. --dry-run writes the folder that would be uploaded and uploads nothing.
With --adapters-only it uploads the LoRA adapters and head alone (the model folder's adapters/,
written by 'tfprot train --lora-rank R'), a few MB, with a card naming the base checkpoint they
need. With --space USER/NAME it uploads the model's web app as a Gradio Space instead: the folder
'tfprot space' writes (or one it wrote, given as --model).

Example:
    HF_TOKEN=hf_... tfprot push --model out/model --repo your-name/esm2-cytosol-membrane
    HF_TOKEN=hf_... tfprot push --model out/model --repo your-name/esm2-lora --adapters-only
    HF_TOKEN=hf_... tfprot push --model out/model --space your-name/cytosol-membrane-demo
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tfprot.cli import add_common_options, existing_path, run_command
from tfprot.cli.app import settings_from
from tfprot.cli.space import add_space_options
from tfprot.errors import OptionError


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfprot push",
        description=__doc__.split("\n\n")[1],
        epilog="Example: HF_TOKEN=hf_... tfprot push --model out/model --repo your-name/my-model\n"
        "         tfprot push --model out/model --repo your-name/my-model --dry-run --stage up/\n"
        "         HF_TOKEN=hf_... tfprot push --model out/model --space your-name/my-demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        type=Path,
        required=True,
        help="the saved model folder (with --space: or a folder 'tfprot space' wrote)",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--repo", help="the Hub model repository, USER/NAME")
    target.add_argument(
        "--space",
        metavar="REPO",
        help="upload the model's web app as a Gradio Space USER/NAME instead (see tfprot space)",
    )
    parser.add_argument(
        "--private", action="store_true", help="create the repository private (if it is new)"
    )
    parser.add_argument(
        "--token-env",
        default="HF_TOKEN",
        metavar="VAR",
        help="environment variable holding the token (default HF_TOKEN; then the token file "
        "of 'hf auth login'). The token is never taken on the command line.",
    )
    parser.add_argument(
        "--card", type=Path, default=None, help="upload this Markdown file as README.md instead"
    )
    parser.add_argument(
        "--adapters-only",
        action="store_true",
        help="upload the LoRA adapters and head alone (MODEL/adapters/, or MODEL when it is an "
        "adapters folder), with a card naming the base checkpoint they need",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="write the folder that would be uploaded (to --stage) and stop; no token needed",
    )
    parser.add_argument(
        "--stage", type=Path, default=None, help="where --dry-run writes the folder"
    )
    space_options = parser.add_argument_group("with --space (as for tfprot space)")
    add_space_options(space_options)
    add_common_options(parser)
    return parser


SPACE_OPTIONS = (
    "fold_model",
    "max_sequences",
    "max_length",
    "fold_max_length",
    "num_recycles",
    "title",
)
"""Options that only mean something with --space."""


def run(args: argparse.Namespace) -> int:
    if args.space:
        return _run_space(args)
    from tfprot.sharing import check_repo_id, prepare_upload, resolve_token, upload_staged
    from tfprot.sharing.push import hub_endpoint

    check_repo_id(args.repo)
    defaults = create_parser()
    given = [name for name in SPACE_OPTIONS if getattr(args, name) != defaults.get_default(name)]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise OptionError(f"{flags} only apply with --space; leave them out with --repo.")
    if args.dry_run:
        stage = args.stage or Path(tempfile.mkdtemp(prefix="tfprot-push-"))
        staged = prepare_upload(
            args.model, args.repo, stage, card=args.card, adapters_only=args.adapters_only
        )
        _describe(staged)
        print(f"dry run: nothing uploaded; the folder for {args.repo} is {staged.path}/")
        return 0
    token = resolve_token(env=args.token_env)
    endpoint = hub_endpoint()
    with tempfile.TemporaryDirectory(prefix="tfprot-push-") as workspace:
        staged = prepare_upload(
            args.model,
            args.repo,
            Path(workspace) / "upload",
            card=args.card,
            adapters_only=args.adapters_only,
        )
        _describe(staged)
        print(f"pushing to {endpoint}/{args.repo} with the {token}")
        result = upload_staged(staged, args.repo, token=token, private=args.private)
    print(f"pushed: {result.repo_url}")
    print(f"commit: {result.commit_url}")
    return 0


def _run_space(args: argparse.Namespace) -> int:
    """``--space``: stage the Space folder (or take one 'tfprot space' wrote) and upload it."""
    from tfprot.app.space import is_space_folder, read_space, write_space
    from tfprot.cli.space import describe
    from tfprot.sharing import check_repo_id, resolve_token, upload_staged
    from tfprot.sharing.push import hub_endpoint

    check_repo_id(args.space)
    existing_path(args.model, "--model")
    if args.card is not None:
        raise OptionError(
            "--card is for model repositories; a Space's README.md is written by tfprot."
        )
    if args.adapters_only:
        raise OptionError("--adapters-only is for model repositories (--repo), not --space.")

    def stage(where: Path):
        if is_space_folder(args.model):
            return read_space(args.model)
        return write_space(
            args.model, where, settings_from(args), title_text=args.title, repo_id=args.space
        )

    if args.dry_run:
        staged = stage(args.stage or Path(tempfile.mkdtemp(prefix="tfprot-space-")) / "space")
        describe(staged)
        print(f"dry run: nothing uploaded; the folder for the Space {args.space} is {staged.path}/")
        return 0
    token = resolve_token(env=args.token_env)
    endpoint = hub_endpoint()
    with tempfile.TemporaryDirectory(prefix="tfprot-space-") as workspace:
        staged = stage(Path(workspace) / "space")
        describe(staged)
        print(f"pushing the Space to {endpoint}/spaces/{args.space} with the {token}")
        result = upload_staged(
            staged, args.space, token=token, private=args.private, repo_type="space"
        )
    print(f"pushed: {result.repo_url}")
    print(f"commit: {result.commit_url}")
    return 0


def _describe(staged) -> None:
    facts = staged.facts
    print(f"model     : {facts.task}, base {facts.base_checkpoint}, {len(facts.classes)} classes")
    if facts.adapters_only:
        needs = facts.lora.get("base_checkpoint") or facts.base_checkpoint
        print(f"adapters  : LoRA rank {facts.lora.get('rank')} alone; they need the base {needs}")
    print(f"files     : {', '.join(staged.files)}")
    if facts.metrics_path is not None:
        print(f"metrics   : {facts.metrics_path} (in the card and uploaded)")
    for item in staged.skipped:
        print(f"left out  : {item}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
