"""Publish a training run to the Hugging Face Hub: ``python -m train push RUN_DIR --repo-id NS/NAME``.

A run directory (written by :mod:`train.fit`) holds::

    RUN_DIR/release/{model.safetensors, config.json, README.md}   -> repo root
    RUN_DIR/figures/*.png                                          -> figures/
    RUN_DIR/metrics.json                                           -> metrics.json

Everything goes up in one commit (``HfApi.create_commit``), so a repo never shows weights without
their card or metrics. Pickle files are refused outright, by extension and by content (pickle
opcodes, NumPy arrays, zip archives such as ``torch.save`` writes): MicroExp models load from
safetensors only, and a pickle on the Hub would be an invitation to run code on download.
Temporaries a killed writer left (``.tmp-*``) are never uploaded. ``--private`` never leaves a
push public: an existing public repo is refused, not silently kept public.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, get_token
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from microexp.atomic import is_temporary
from microexp.errors import MicroExpError

try:  # the HTTP client of huggingface_hub 2.x; 1.x used httpx
    from httpx2 import TransportError
except ImportError:  # pragma: no cover - other huggingface_hub versions
    from httpx import TransportError

from .card import REPO_PLACEHOLDER, source_kind

RELEASE = "release"
REQUIRED = ("model.safetensors", "config.json", "README.md")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".npy", ".npz", ".joblib")
# Leading bytes of files that can carry a pickle: protocol 2-5 pickles, NumPy .npy (object arrays are
# pickled), zip archives (torch.save, .npz, joblib bundles). Safetensors, PNG, JSON and Markdown start otherwise.
PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"\x93NUMPY", b"PK\x03\x04")


class PushError(MicroExpError):
    """The run directory cannot be published as it is, or the Hub refused it; the message says why."""


def collect_files(run_dir: str | Path) -> dict[str, Path]:
    """Map repo paths to local files for a run directory, after checking it is publishable.

    Raises:
        PushError: ``release/`` is missing, lacks a required file, or anything to upload is a pickle.
    """
    run_dir = Path(run_dir)
    release = run_dir / RELEASE
    if not release.is_dir():
        raise PushError(f"{run_dir} has no {RELEASE}/ directory; train with `python -m train fit` first")
    missing = [name for name in REQUIRED if not (release / name).is_file()]
    if missing:
        raise PushError(f"{release} lacks {', '.join(missing)}; a release needs {', '.join(REQUIRED)}")
    files = {p.relative_to(release).as_posix(): p for p in sorted(release.rglob("*")) if p.is_file()}
    files.update({f"figures/{p.name}": p for p in sorted((run_dir / "figures").glob("*.png")) if p.is_file()})
    if (run_dir / "metrics.json").is_file():
        files["metrics.json"] = run_dir / "metrics.json"
    files = {k: v for k, v in files.items() if not any(is_temporary(part) for part in k.split("/"))}
    pickles = [repo_path for repo_path, local in files.items() if _may_hold_pickle(repo_path, local)]
    if pickles:
        raise PushError(f"refusing to push pickle files ({', '.join(pickles)}); MicroExp publishes safetensors only. "
                        "Remove them from the run directory.")
    return files


def _may_hold_pickle(repo_path: str, local: Path) -> bool:
    if repo_path.lower().endswith(PICKLE_SUFFIXES):
        return True
    with open(local, "rb") as f:
        return f.read(8).startswith(PICKLE_MAGIC)


def push_run(
    run_dir: str | Path,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Upload a run's release model, card, figures and metrics to ``repo_id`` in one commit.

    Args:
        run_dir: the run directory.
        repo_id: ``namespace/name``; created if it does not exist (an existing repo keeps its visibility).
        private: create the repo private; an existing public repo is then refused (PushError), since
            the push would be public although private was asked for.
        revision: a branch to commit to (created from ``main`` if missing); default ``main``.
        token: a write token; default ``HF_TOKEN``, then the token stored by ``hf auth login``.
        commit_message: default "Upload <model> (microexp)".

    Returns:
        The URL of the new commit.

    Raises:
        PushError: unpublishable run directory, no token, ``private`` for an existing public repo, an
            error answer from the Hub, or no answer at all (network down, Hub unreachable).
    """
    files = collect_files(run_dir)
    token = token or get_token()  # get_token reads HF_TOKEN first, then the `hf auth login` file
    if not token:
        raise PushError("no Hugging Face token: set HF_TOKEN or run `hf auth login` (a token with write access)")
    api = HfApi(token=token)
    published = {"README.md": lambda local: _card_for(local, repo_id), "metrics.json": _public_metrics}
    operations = [
        CommitOperationAdd(path_in_repo=path, path_or_fileobj=published[path](local) if path in published else str(local))
        for path, local in files.items()
    ]
    message = commit_message or f"Upload {Path(run_dir).resolve().name} (microexp)"
    try:
        if private and _is_public(api, repo_id):
            raise PushError(
                f"{repo_id} already exists and is public, so --private would not keep this push private; make "
                "the repo private in its Hub settings first, or push without --private"
            )
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.create_commit(repo_id, operations=operations, commit_message=message, revision=revision)
    except (HfHubHTTPError, ValueError) as exc:  # ValueError: README.md metadata rejected by validate-yaml
        # The client's message names the URL and status, never the token.
        raise PushError(f"the Hub refused the push to {repo_id}: {exc}") from exc
    except TransportError as exc:  # connection refused, DNS, timeouts: the Hub never answered
        raise PushError(
            f"could not reach the Hub at {api.endpoint} to push {repo_id} ({type(exc).__name__}: {exc}); "
            "check the network connection and try again"
        ) from exc
    return info.commit_url


def _public_metrics(local: Path) -> bytes:
    """metrics.json as uploaded: a cross-generator run's ``test_data`` names its kind, not a local path."""
    raw = local.read_bytes()
    metrics = json.loads(raw)
    if not (isinstance(metrics, dict) and "test_data" in metrics):
        return raw
    metrics["test_data"] = source_kind(metrics["test_data"])
    return (json.dumps(metrics, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _is_public(api: HfApi, repo_id: str) -> bool:
    """Whether ``repo_id`` exists and is public (False when it does not exist yet)."""
    try:
        return not api.model_info(repo_id).private
    except RepositoryNotFoundError:
        return False


def _card_for(readme: Path, repo_id: str) -> bytes:
    """The card as uploaded: its usage examples name the repo it is pushed to."""
    return readme.read_text(encoding="utf-8").replace(REPO_PLACEHOLDER, repo_id).encode("utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m train push RUN_DIR --repo-id NS/NAME [--private] [--revision B] [--message M]``."""
    parser = argparse.ArgumentParser(
        prog="python -m train push",
        description="Publish RUN_DIR/release (weights, config, card) plus figures/ and metrics.json to the Hub in "
        "one commit. The token comes from HF_TOKEN or `hf auth login`.",
    )
    parser.add_argument("run_dir", type=Path, help="a run directory written by `python -m train fit`")
    parser.add_argument("--repo-id", required=True, help="target model repo, namespace/name")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument("--revision", default=None, help="branch to commit to (created if missing)")
    parser.add_argument("--message", default=None, help="commit message")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        url = push_run(args.run_dir, args.repo_id, private=args.private, revision=args.revision,
                       commit_message=args.message)
    except MicroExpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
