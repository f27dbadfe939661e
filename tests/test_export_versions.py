"""Dataset versions: `mirset tag` names table versions; an old version exports again exactly."""

from __future__ import annotations

import json

import pytest

from export_helpers import built_dataset, tree_bytes
from helpers import run_mirset
from mirset.export.hf import export_hf
from mirset.export.versions import VersionError, read_tags, resolve, tag_version


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
    return built_dataset(corpus, tmp_path_factory)


def test_tag_names_a_version_and_resolves(built) -> None:
    tv = resolve(built.out, "v1")
    assert tv.version == built.v1 and tv.tags == ("v1",) and tv.label == "v1"
    assert tv.timestamp and tv.timestamp.endswith("Z")
    assert resolve(built.out).version == built.latest
    assert resolve(built.out, built.v1).version == built.v1
    assert resolve(built.out, str(built.latest)).version == built.latest
    tags = json.loads((built.out / "tags.json").read_text())["tags"]
    assert tags["v1"]["version"] == built.v1
    assert not list(built.out.glob(".tags.json.*"))  # atomic write left no temp file


def test_tag_rules(built, tmp_path) -> None:
    out = built.out
    with pytest.raises(VersionError, match="already names table version"):
        tag_version(out, "v1", built.latest)  # tags are immutable ...
    assert tag_version(out, "v1", built.v1).version == built.v1  # ... re-tagging the same is fine
    for bad in ("12", "-x", "a b", "a/b", ""):
        with pytest.raises(VersionError, match="bad tag name"):
            tag_version(out, bad)
    with pytest.raises(VersionError, match="does not exist"):
        resolve(out, built.latest + 5)
    with pytest.raises(VersionError, match="no table version or tag 'nope'"):
        resolve(out, "nope")
    with pytest.raises(VersionError, match="no mirset table"):
        resolve(tmp_path)
    moved = tag_version(out, "scratch", built.v1)
    assert (
        tag_version(out, "scratch", built.latest, force=True).version
        == built.latest
        != moved.version
    )
    assert resolve(out, "scratch").tags == ("scratch",)


def test_tag_cli_lists_moves_and_deletes(built) -> None:
    out = str(built.out)
    proc = run_mirset("tag", out, "cli-tag", "--version", str(built.v1))
    assert proc.returncode == 0, proc.stderr
    assert f"table version {built.v1}" in proc.stderr
    listing = run_mirset("tag", out)
    assert listing.returncode == 0
    lines = dict(line.split("\t", 1) for line in listing.stdout.splitlines())
    assert "cli-tag" in lines[str(built.v1)] and "v1" in lines[str(built.v1)]
    assert set(lines) >= {str(built.v1), str(built.latest)}
    again = run_mirset("tag", out, "cli-tag", "--version", str(built.latest))
    assert again.returncode == 3 and "--force" in again.stderr
    assert run_mirset("tag", out, "cli-tag", "--delete").returncode == 0
    assert "cli-tag" not in read_tags(built.out)
    assert run_mirset("tag", out, "missing", "--delete").returncode == 3


def test_old_version_exports_again_byte_for_byte(built, tmp_path) -> None:
    """v1 was exported before the second build; exporting v1 now gives the same repo."""
    again = tmp_path / "hf_v1_again"
    result = export_hf(built.out, again, "v1", with_audio=True)
    assert result.version.version == built.v1 and result.rows == 2  # corrupt row left out
    before, now = tree_bytes(built.hf_v1_before), tree_bytes(again)
    assert sorted(before) == sorted(now)
    for name in before:
        assert before[name] == now[name], f"{name} differs between the two exports of v1"
    latest = export_hf(built.out, tmp_path / "hf_latest")
    assert latest.rows == 5 and latest.version.version == built.latest
