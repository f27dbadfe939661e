"""Dataset versions: a dataset version is a Delta table version, optionally named by a tag.

Tags live in ``OUT_DIR/tags.json`` (``{"tags": {name: {"version": N, "tagged_at": ...,
"table_timestamp": ...}}}``), written under a file lock to a temporary file and renamed, so a
reader never sees half a file. A tag is immutable unless moved on purpose (``force``): exporting
or pushing a tag always gives the same rows as when it was made.

Delta keeps every version until ``VACUUM`` removes the files of old ones; an export of a version
whose files are gone fails with a clear message instead of reading a different version.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError
from filelock import FileLock

from mirset.export.store import scan

TAGS_FILE = "tags.json"
TAG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class VersionError(Exception):
    """A version or tag that does not exist, cannot be read, or a bad tag name."""


@dataclass(frozen=True)
class TableVersion:
    """One resolved table version: its number, the tags naming it and its commit time."""

    out_dir: Path
    version: int
    timestamp_ms: int | None
    tags: tuple[str, ...] = ()
    requested: str | None = None  # what the user asked for (a tag name, a number, or None)

    @property
    def table_path(self) -> Path:
        return self.out_dir / "table"

    @property
    def timestamp(self) -> str | None:
        """The commit time of this version, ISO 8601 UTC."""
        if self.timestamp_ms is None:
            return None
        when = datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)
        return when.isoformat(timespec="seconds").replace("+00:00", "Z")

    @property
    def label(self) -> str:
        """The tag that names this version (the one asked for, else the first), or
        ``table-version-<N>``: the Hub tag of a push, never mistaken for a user's tag."""
        if self.requested and self.requested in self.tags:
            return self.requested
        return self.tags[0] if self.tags else f"table-version-{self.version}"

    @property
    def spec(self) -> str:
        """What to pass as ``--version`` to get this version again: a tag, else the number."""
        return self.label if self.tags else str(self.version)

    def delta(self) -> DeltaTable:
        try:
            return DeltaTable(str(self.table_path), version=self.version)
        except (DeltaError, OSError) as e:  # pragma: no cover - depends on a vacuumed table
            raise VersionError(f"table version {self.version} cannot be read: {e}") from e

    def read(self, columns: list[str] | None = None) -> pa.Table:
        """The rows of this version (all columns unless ``columns``), sorted by path."""
        dt = self.delta()
        try:
            table = scan(dt, columns=columns)
        except (DeltaError, OSError) as e:
            raise VersionError(
                f"table version {self.version} cannot be read (were old files vacuumed?): {e}"
            ) from e
        if "relative_path" in table.column_names:
            table = table.sort_by("relative_path")
        return table

    def schema(self) -> pa.Schema:
        return pa.schema(self.delta().schema().to_arrow())


def _table(out_dir: Path) -> DeltaTable:
    try:
        return DeltaTable(str(Path(out_dir) / "table"))
    except TableNotFoundError as e:
        raise VersionError(f"no mirset table in {out_dir} (run `mirset build` first)") from e


def history(out_dir: Path) -> dict[int, dict[str, Any]]:
    """``{version: commit info}`` of the table, oldest first."""
    return {int(h["version"]): h for h in sorted(_table(out_dir).history(), key=_version_of)}


def _version_of(h: dict[str, Any]) -> int:
    return int(h["version"])


def read_tags(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The tags of ``out_dir``: ``{name: {"version": N, ...}}`` (empty when none)."""
    path = Path(out_dir) / TAGS_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise VersionError(f"{path} is not readable JSON: {e}") from e
    tags = data.get("tags", {}) if isinstance(data, dict) else {}
    return {str(k): v for k, v in tags.items() if isinstance(v, dict) and "version" in v}


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def tag_version(
    out_dir: Path, name: str, version: int | str | None = None, force: bool = False
) -> TableVersion:
    """Name a table version (default: the latest). An existing tag is only moved with ``force``."""
    out_dir = Path(out_dir)
    if not TAG_NAME.match(name) or name.isdigit():
        raise VersionError(
            f"bad tag name {name!r}: letters, digits, '.', '_' and '-', starting with a letter "
            "or digit, not all digits (those are table version numbers)"
        )
    target = resolve(out_dir, version)
    with FileLock(str(out_dir / f"{TAGS_FILE}.lock")):
        tags = read_tags(out_dir)
        old = tags.get(name)
        if old is not None and int(old["version"]) != target.version and not force:
            raise VersionError(
                f"tag {name!r} already names table version {old['version']}; use --force to move it"
            )
        if old is None or int(old["version"]) != target.version:
            tags[name] = {
                "version": target.version,
                "table_timestamp": target.timestamp,
                "tagged_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            }
            _write_atomic(out_dir / TAGS_FILE, {"tags": tags})
    return resolve(out_dir, name)


def delete_tag(out_dir: Path, name: str) -> None:
    out_dir = Path(out_dir)
    with FileLock(str(out_dir / f"{TAGS_FILE}.lock")):
        tags = read_tags(out_dir)
        if name not in tags:
            raise VersionError(f"no tag {name!r} in {out_dir}")
        del tags[name]
        _write_atomic(out_dir / TAGS_FILE, {"tags": tags})


def resolve(out_dir: Path, version: int | str | None = None) -> TableVersion:
    """A version number, a tag name or ``None`` (the latest) -> the table version it names."""
    out_dir = Path(out_dir)
    hist = history(out_dir)
    latest = max(hist)
    tags = read_tags(out_dir)
    requested = None if version is None else str(version)
    if version is None:
        number = latest
    elif isinstance(version, int) or str(version).isdigit():
        number = int(version)
        if number not in hist:
            raise VersionError(f"table version {number} does not exist (latest: {latest})")
    elif str(version) in tags:
        number = int(tags[str(version)]["version"])
        if number not in hist:
            raise VersionError(f"tag {version!r} names table version {number}, which is not there")
    else:
        known = ", ".join(sorted(tags)) or "none"
        raise VersionError(f"no table version or tag {version!r} (tags: {known})")
    naming = tuple(sorted(n for n, t in tags.items() if int(t["version"]) == number))
    ts = hist[number].get("timestamp")
    return TableVersion(out_dir, number, int(ts) if ts is not None else None, naming, requested)
