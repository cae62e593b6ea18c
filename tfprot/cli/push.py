"""``tfprot push``: upload a saved model to the 🤗 Hub with a generated model card.

Stages the model folder (weights, config, tokenizer, tfprot.json, and metrics.json/history.csv
from beside it) with a README.md model card written from what tfprot recorded, creates the
repository if needed and uploads everything in one commit. The token comes from $HF_TOKEN (or the
variable named by --token-env) or from 'hf auth login'; it is never printed. $HF_ENDPOINT points
at another Hub. --dry-run writes the folder that would be uploaded and uploads nothing.

Example:
    HF_TOKEN=hf_... tfprot push --model out/model --repo your-name/esm2-cytosol-membrane
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tfprot.cli import add_common_options, run_command


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfprot push",
        description=__doc__.split("\n\n")[1],
        epilog="Example: HF_TOKEN=hf_... tfprot push --model out/model --repo your-name/my-model\n"
        "         tfprot push --model out/model --repo your-name/my-model --dry-run --stage up/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", type=Path, required=True, help="the saved model folder")
    parser.add_argument("--repo", required=True, help="the Hub repository, USER/NAME")
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
        "--dry-run",
        action="store_true",
        help="write the folder that would be uploaded (to --stage) and stop; no token needed",
    )
    parser.add_argument(
        "--stage", type=Path, default=None, help="where --dry-run writes the folder"
    )
    add_common_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from tfprot.sharing import check_repo_id, prepare_upload, resolve_token, upload_staged
    from tfprot.sharing.push import hub_endpoint

    check_repo_id(args.repo)
    if args.dry_run:
        stage = args.stage or Path(tempfile.mkdtemp(prefix="tfprot-push-"))
        staged = prepare_upload(args.model, args.repo, stage, card=args.card)
        _describe(staged)
        print(f"dry run: nothing uploaded; the folder for {args.repo} is {staged.path}/")
        return 0
    token = resolve_token(env=args.token_env)
    endpoint = hub_endpoint()
    with tempfile.TemporaryDirectory(prefix="tfprot-push-") as workspace:
        staged = prepare_upload(args.model, args.repo, Path(workspace) / "upload", card=args.card)
        _describe(staged)
        print(f"pushing to {endpoint}/{args.repo} with the {token}")
        result = upload_staged(staged, args.repo, token=token, private=args.private)
    print(f"pushed: {result.repo_url}")
    print(f"commit: {result.commit_url}")
    return 0


def _describe(staged) -> None:
    facts = staged.facts
    print(f"model     : {facts.task}, base {facts.base_checkpoint}, {len(facts.classes)} classes")
    print(f"files     : {', '.join(staged.files)}")
    if facts.metrics_path is not None:
        print(f"metrics   : {facts.metrics_path} (in the card and uploaded)")
    for item in staged.skipped:
        print(f"left out  : {item}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run, create_parser().parse_args(argv))
