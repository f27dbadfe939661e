"""`mirset push`: everything up to the Hub's network calls (the Hub cannot be reached here).

The dry run must list exactly what `huggingface_hub` itself would upload; the push goes through
`HfApi.create_repo` / `upload_folder` / `create_tag`, which are replaced by recorders at the
network boundary; the token is never printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from export_helpers import built_dataset
from mirset.cli import main
from mirset.export.hf import export_hf
from mirset.export.push import PushError, folder_files, plan_push, push

SECRET = "hf_notARealTokenButSecret0123456789"


@pytest.fixture(scope="module")
def repo(corpus, tmp_path_factory):
    built = built_dataset(corpus, tmp_path_factory)
    hf = tmp_path_factory.mktemp("push") / "repo"
    export_hf(built.out, hf, "v1")
    # things an upload must skip: a git checkout of the Hub repo and an interrupted shard
    (hf / ".git").mkdir()
    (hf / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (hf / "data" / ".train-00001-of-00002.parquet.tmp").write_bytes(b"partial")
    return hf


@pytest.fixture
def token(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no login cache
    monkeypatch.setenv("HF_TOKEN", SECRET)
    return SECRET


class Recorder:
    """Stands in for the Hub: records each call instead of sending it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def create_repo(self, *args, **kwargs):
        self.calls.append(("create_repo", args, kwargs))
        return type("RepoUrl", (), {"repo_id": args[0]})()

    def upload_folder(self, *args, **kwargs):
        self.calls.append(("upload_folder", args, kwargs))
        return type("CommitInfo", (), {"oid": "0123abcd" * 5})()

    def create_tag(self, *args, **kwargs):
        self.calls.append(("create_tag", args, kwargs))


def test_dry_run_lists_exactly_what_huggingface_hub_uploads(repo, token, monkeypatch) -> None:
    from huggingface_hub import HfApi

    result = CliRunner().invoke(main, ["push", str(repo), "me/my-set", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert "token: HF_TOKEN environment variable" in result.output
    assert "then tag: v1" in result.output and "datasets/me/my-set (public" in result.output
    listed = [line.split()[0] for line in result.output.split("files:\n")[1].splitlines()]
    # the library's own listing for upload_folder (its README check is a Hub call: skipped)
    monkeypatch.setattr(HfApi, "_validate_yaml", lambda self, **kw: None)
    ops = HfApi()._prepare_upload_folder_additions(
        repo, "", ignore_patterns=[".git", ".git/*", "*/.git", "**/.git/**", "**/.*.tmp", ".*.tmp"]
    )
    assert listed == [op.path_in_repo for op in ops]
    assert "README.md" in listed and "data/train-00000-of-00001.parquet" in listed
    assert not any(".git" in p or p.endswith(".tmp") for p in listed)
    assert {p for p, _ in folder_files(repo)} == set(listed)


def test_push_calls_the_hub_api_and_tags_the_commit(repo, token, monkeypatch) -> None:
    from huggingface_hub import HfApi

    rec = Recorder()
    for name in ("create_repo", "upload_folder", "create_tag"):
        monkeypatch.setattr(HfApi, name, lambda self, *a, _n=name, **k: getattr(rec, _n)(*a, **k))
    result = CliRunner().invoke(main, ["push", str(repo), "me/my-set", "--private"])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    names = [c[0] for c in rec.calls]
    assert names == ["create_repo", "upload_folder", "create_tag"]
    _, args, kw = rec.calls[0]
    assert args == ("me/my-set",) and kw["repo_type"] == "dataset" and kw["private"] is True
    assert kw["exist_ok"] is True
    _, _, kw = rec.calls[1]
    assert Path(kw["folder_path"]) == repo and kw["repo_type"] == "dataset"
    assert "v1" in kw["commit_message"] and "**/.*.tmp" in kw["ignore_patterns"]
    assert kw["delete_patterns"] == ["data/train-*.parquet", "plots/*.png"]
    _, args, kw = rec.calls[2]
    assert args == ("me/my-set",) and kw["tag"] == "v1" and kw["revision"] == "0123abcd" * 5
    assert kw["repo_type"] == "dataset"


def test_push_tag_override_and_large_folder_path(repo, token) -> None:
    plan = plan_push(repo, "me/my-set", tag="release-2024")
    assert plan.tag == "release-2024" and plan.method == "upload_folder"

    class Large(Recorder):
        def upload_large_folder(self, **kwargs):
            self.calls.append(("upload_large_folder", (), kwargs))

        def repo_info(self, repo_id, repo_type):
            return type("Info", (), {"sha": "feed" * 10})()

        def list_repo_files(self, repo_id, repo_type):
            return self.remote

        def create_commit(self, repo_id, operations, **kwargs):
            self.calls.append(("create_commit", (repo_id, operations), kwargs))
            return type("CommitInfo", (), {"oid": "dead" * 10})()

    rec = Large()
    rec.remote = ["README.md", "data/train-00000-of-00001.parquet", "plots/keys.png"]
    plan.method = "upload_large_folder"
    assert push(plan, api=rec) == "feed" * 10  # nothing stale: the upload's own commit
    assert [c[0] for c in rec.calls] == ["create_repo", "upload_large_folder", "create_tag"]
    assert rec.calls[2][2]["revision"] == "feed" * 10
    # an earlier version had more shards: the extra one is deleted, and that commit is tagged
    rec = Large()
    rec.remote = ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet", "x.txt"]
    assert push(plan, api=rec) == "dead" * 10
    assert [c[0] for c in rec.calls][-2:] == ["create_commit", "create_tag"]
    deleted = [op.path_in_repo for op in rec.calls[-2][1][1]]
    assert deleted == ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"]


def test_push_refuses_without_token_or_export(repo, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-home"))
    result = CliRunner().invoke(main, ["push", str(repo), "me/x"])
    assert result.exit_code == 3 and "no Hugging Face token" in result.output
    dry = CliRunner().invoke(main, ["push", str(repo), "me/x", "--dry-run"])
    assert dry.exit_code == 0 and "none found" in dry.output
    with pytest.raises(PushError, match="not a dataset repo"):
        plan_push(tmp_path, "me/x")
    with pytest.raises(PushError, match="owner/name"):
        plan_push(repo, "no-owner")
    with pytest.raises(PushError, match="bad tag"):
        plan_push(repo, "me/x", tag="bad tag")
