"""Push an exported dataset repo to the Hugging Face Hub, one Hub tag per dataset version.

A thin layer over ``huggingface_hub``: ``create_repo`` (dataset, ``exist_ok``), then
``upload_large_folder`` for big folders where the installed version has it (resumable, many
commits) or ``upload_folder`` (which itself commits big folders in parts since
``huggingface_hub`` 1.x with ``hf_xet``), then ``create_tag`` on the uploaded commit. Shards and
plots of an earlier version that the new one lacks are deleted in the same push. The token
comes from ``HF_TOKEN`` or the login cache, resolved by ``huggingface_hub`` itself; mirset only
says where it was found and never prints it. :func:`plan_push` lists exactly the files
``upload_folder`` would send (same listing, same ignore patterns), without any network call.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from mirset.export.hf import PROVENANCE_FILE
from mirset.export.versions import TAG_NAME

LARGE_FOLDER_BYTES = 5_000_000_000  # above this, upload_large_folder when available
LARGE_FOLDER_FILES = 1000
# never uploaded: our own temporary files (an interrupted export's shard, plot or card)
EXTRA_IGNORE = ["**/.*.tmp", ".*.tmp"]
# files an export owns: on the Hub, those the new version does not have are deleted in the same
# push (else an old version's extra shard would stay matched by data/train-*.parquet)
OWNED = ["data/train-*.parquet", "plots/*.png"]


class PushError(Exception):
    pass


@dataclass
class PushPlan:
    hf_dir: Path
    repo_id: str
    private: bool
    tag: str
    method: str  # "upload_folder" or "upload_large_folder"
    files: list[tuple[str, int]]  # (path in repo, bytes)
    token_source: str | None  # where huggingface_hub will find a token; never the token
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(s for _, s in self.files)

    def describe(self) -> list[str]:
        """What would happen, line by line (the dry run prints this)."""
        prov = self.provenance
        lines = [
            f"repo: datasets/{self.repo_id} ({'private' if self.private else 'public'}, "
            "created if missing)",
            f"dataset version: table version {prov.get('table_version')} "
            f"({prov.get('label')}), {prov.get('rows')} tracks",
            f"upload: {self.method}, {len(self.files)} files, {self.total_bytes:,} bytes",
            "on the Hub, files matching " + ", ".join(OWNED) + " that are not listed here are "
            "deleted (an earlier version's shards and plots)",
            f"then tag: {self.tag}",
            f"token: {self.token_source or 'none found (set HF_TOKEN or run `hf auth login`)'}",
            "files:",
        ]
        lines += [f"  {path}  {size:,} B" for path, size in self.files]
        return lines


def ignore_patterns() -> list[str]:
    from huggingface_hub.utils._paths import DEFAULT_IGNORE_PATTERNS

    return [*DEFAULT_IGNORE_PATTERNS, *EXTRA_IGNORE]


def folder_files(hf_dir: Path) -> list[tuple[str, int]]:
    """The files ``upload_folder`` sends: every file under the folder, sorted, filtered by the
    library's own pattern matcher with its default ignore list (``.git``, caches) plus ours."""
    from huggingface_hub.utils import filter_repo_objects

    root = Path(hf_dir).expanduser().resolve()
    rel = {p.relative_to(root).as_posix(): p for p in sorted(root.glob("**/*")) if p.is_file()}
    kept = filter_repo_objects(rel.keys(), ignore_patterns=ignore_patterns())
    return [(k, rel[k].stat().st_size) for k in kept]


def token_source() -> str | None:
    """Where ``huggingface_hub`` will take the token from (never the token itself)."""
    from huggingface_hub import constants, get_token

    if get_token() is None:
        return None
    if os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"):
        return "HF_TOKEN environment variable"
    if Path(constants.HF_TOKEN_PATH).is_file():
        return f"login cache ({constants.HF_TOKEN_PATH})"
    return "huggingface_hub credentials"


def plan_push(
    hf_dir: Path, repo_id: str, *, private: bool = False, tag: str | None = None
) -> PushPlan:
    """Check the folder is an export and list what would be uploaded; no network."""
    from huggingface_hub import HfApi

    hf_dir = Path(hf_dir)
    prov_path = hf_dir / PROVENANCE_FILE
    if not (hf_dir / "README.md").is_file() or not prov_path.is_file():
        raise PushError(f"{hf_dir} is not a dataset repo made by `mirset export hf`")
    prov = json.loads(prov_path.read_text(encoding="utf-8"))
    missing = [s for s in prov.get("shards", []) if not (hf_dir / s).is_file()]
    if missing:
        raise PushError(f"shards missing from {hf_dir}: {missing}")
    if "/" not in repo_id or repo_id.count("/") != 1:
        raise PushError(f"repo id {repo_id!r}: expected 'owner/name'")
    name = tag or str(prov.get("label") or f"table-version-{prov.get('table_version')}")
    if not TAG_NAME.match(name):
        raise PushError(f"bad tag name {name!r}")
    files = folder_files(hf_dir)
    large = sum(s for _, s in files) > LARGE_FOLDER_BYTES or len(files) > LARGE_FOLDER_FILES
    method = (
        "upload_large_folder"
        if large and hasattr(HfApi, "upload_large_folder")
        else "upload_folder"
    )
    return PushPlan(hf_dir, repo_id, private, name, method, files, token_source(), prov)


def push(plan: PushPlan, api: Any = None, log: Callable[[str], None] = lambda _m: None) -> str:
    """Upload the folder and tag the commit; returns the tagged revision."""
    from huggingface_hub import HfApi

    if plan.token_source is None:
        raise PushError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = api or HfApi()
    repo = api.create_repo(plan.repo_id, repo_type="dataset", private=plan.private, exist_ok=True)
    log(f"repo {getattr(repo, 'repo_id', plan.repo_id)} ready")
    prov = plan.provenance
    message = f"mirset dataset {plan.tag} (table version {prov.get('table_version')})"
    if plan.method == "upload_large_folder":
        local = {path for path, _ in plan.files}
        before = api.list_repo_files(plan.repo_id, repo_type="dataset")
        stale = [f for f in before if f not in local and any(fnmatch(f, p) for p in OWNED)]
        api.upload_large_folder(
            repo_id=plan.repo_id,
            folder_path=str(plan.hf_dir),
            repo_type="dataset",
            private=plan.private,
            ignore_patterns=list(EXTRA_IGNORE),
        )
        if stale:
            from huggingface_hub import CommitOperationDelete

            info = api.create_commit(
                plan.repo_id,
                [CommitOperationDelete(path_in_repo=f) for f in stale],
                commit_message=f"{message}: remove files of the previous version",
                repo_type="dataset",
            )
            revision = info.oid
        else:
            revision = api.repo_info(plan.repo_id, repo_type="dataset").sha
    else:
        info = api.upload_folder(
            repo_id=plan.repo_id,
            folder_path=str(plan.hf_dir),
            repo_type="dataset",
            commit_message=message,
            ignore_patterns=list(EXTRA_IGNORE),
            delete_patterns=list(OWNED),  # the library keeps the files it uploads
        )
        revision = info.oid
    log(f"uploaded {len(plan.files)} files ({plan.total_bytes:,} bytes) as commit {revision}")
    api.create_tag(
        plan.repo_id, tag=plan.tag, revision=revision, repo_type="dataset", tag_message=message
    )
    log(f"tagged {revision} as {plan.tag}")
    return revision
