"""The track table: a Delta Lake table (``deltalake``), one row per audio file keyed by path.

Commits are atomic: a batch of rows is either entirely in a table version or not at all, so a
killed build loses at most its uncommitted batch. New paths are appended; rows for known paths
are replaced with a merge on the key. New extractor columns are added by schema evolution.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from mirset.schemas.table import KEY

COMPACT_AFTER_FILES = 64
CONFIG_KEY = "mirset.config"  # commit metadata: the configuration that produced the rows
CONFIG_HASH_KEY = "mirset.config_hash"


def scan(dt: DeltaTable, columns: Sequence[str] | None = None, filter: Any = None) -> pa.Table:
    """Read a Delta table through a pyarrow dataset, then drop the dataset and collect garbage.

    Arrow's scanner keeps background threads that, if still alive when Python shuts down,
    abort the process ("terminate called without an active exception": apache/arrow#34314,
    delta-rs#2184) after a successful run; collecting right away joins them while Arrow is alive.
    """
    dataset = dt.to_pyarrow_dataset()
    try:
        return pa.table(dataset.to_table(columns=columns, filter=filter))
    finally:
        del dataset
        gc.collect()


class TrackStore:
    """Read and write the versioned track table at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._table: DeltaTable | None = None

    # -- reading ------------------------------------------------------------------------
    def table(self) -> DeltaTable | None:
        if self._table is None:
            try:
                self._table = DeltaTable(str(self.path))
            except TableNotFoundError:
                return None
        else:
            self._table.update_incremental()
        return self._table

    def exists(self) -> bool:
        return self.table() is not None

    def version(self) -> int | None:
        dt = self.table()
        return dt.version() if dt is not None else None

    def arrow_schema(self) -> pa.Schema | None:
        dt = self.table()
        return pa.schema(dt.schema().to_arrow()) if dt is not None else None

    def read(self, columns: Sequence[str] | None = None, version: int | None = None) -> pa.Table:
        """The table (or some columns of it), optionally at an earlier version."""
        dt = DeltaTable(str(self.path), version=version) if version is not None else self.table()
        if dt is None:
            raise FileNotFoundError(f"no mirset table at {self.path}")
        names = pa.schema(dt.schema().to_arrow()).names
        cols = None if columns is None else [c for c in columns if c in names]
        return scan(dt, columns=cols)

    def prior_state(self, columns: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``{relative_path: {column: value}}`` for the planner (only the requested columns)."""
        if not self.exists():
            return {}
        table = self.read([KEY, *columns])
        return {row[KEY]: row for row in table.to_pylist()}

    def read_rows(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Full rows for these keys."""
        dt = self.table()
        if dt is None or not keys:
            return {}
        table = scan(dt, filter=pc.field(KEY).isin(list(keys)))
        return {row[KEY]: row for row in table.to_pylist()}

    def existing_keys(self, keys: Sequence[str]) -> set[str]:
        dt = self.table()
        if dt is None or not keys:
            return set()
        found = scan(dt, columns=[KEY], filter=pc.field(KEY).isin(list(keys)))
        return set(found.column(KEY).to_pylist())

    # -- writing ------------------------------------------------------------------------
    def commit(
        self,
        rows: Sequence[dict[str, Any]],
        schema: pa.Schema,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Append rows for new keys and replace rows for existing keys; ``metadata`` goes into
        the commit (the build's configuration: see :meth:`build_configs`)."""
        if not rows:
            return
        props = CommitProperties(custom_metadata=metadata) if metadata else None
        self._sync_field_metadata(schema)
        schema = self._union_schema(schema)
        existing = self.existing_keys([r[KEY] for r in rows])
        new = [r for r in rows if r[KEY] not in existing]
        old = [r for r in rows if r[KEY] in existing]
        if new:
            write_deltalake(
                str(self.path),
                pa.Table.from_pylist(new, schema=schema),
                mode="append",
                schema_mode="merge",
                commit_properties=props,
            )
        if old:
            dt = self.table()
            assert dt is not None
            (
                dt.merge(
                    pa.Table.from_pylist(old, schema=schema),
                    predicate=f"t.{KEY} = s.{KEY}",
                    source_alias="s",
                    target_alias="t",
                    merge_schema=True,
                    commit_properties=props,
                )
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        self._table = None

    def build_configs(self, up_to_version: int | None = None) -> dict[str, dict[str, Any]]:
        """The configurations builds committed with (``config_hash`` -> configuration), from
        the table's history up to ``up_to_version``."""
        dt = self.table()
        if dt is None:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for entry in sorted(dt.history(), key=lambda h: h.get("version", 0)):
            if up_to_version is not None and entry.get("version", 0) > up_to_version:
                continue
            raw, h = entry.get(CONFIG_KEY), entry.get(CONFIG_HASH_KEY)
            if raw and h:
                out[str(h)] = json.loads(raw)
        return out

    def _sync_field_metadata(self, schema: pa.Schema) -> None:
        """Update column metadata (e.g. a bumped extractor version) before writing rows."""
        current = self.arrow_schema()
        if current is None:
            return
        dt = self.table()
        assert dt is not None
        for f in schema:
            if f.name not in current.names or not f.metadata:
                continue
            if (current.field(f.name).metadata or {}) != f.metadata:
                meta = {k.decode(): v.decode() for k, v in f.metadata.items()}
                dt.alter.set_column_metadata(f.name, meta)
        self._table = None

    def _union_schema(self, schema: pa.Schema) -> pa.Schema:
        """The build's schema plus any column the table already has (kept with its own type)."""
        current = self.arrow_schema()
        if current is None:
            return schema
        fields = list(schema)
        have = set(schema.names)
        fields += [f for f in current if f.name not in have]
        return pa.schema(fields, metadata=schema.metadata)

    def compact_if_fragmented(self) -> bool:
        """Compact small files into larger ones when a build left many (a new table version)."""
        dt = self.table()
        if dt is None or len(dt.file_uris()) <= COMPACT_AFTER_FILES:
            return False
        dt.optimize.compact()
        self._table = None
        return True
