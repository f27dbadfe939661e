"""The planner: which extractors each track still needs, from what the table already holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mirset.builder.discover import Track
from mirset.extractors.base import Extractor, dependents
from mirset.schemas.table import bookkeeping_columns


@dataclass
class PlannedTrack:
    track: Track
    run: list[str]  # when the file is new or its content changed
    stale: list[str]  # when the file is byte-identical to the row's (only what is out of date)
    reason: str  # new | changed | stale | retry


@dataclass
class Plan:
    todo: list[PlannedTrack] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    failed_skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def prior_columns(extractors: Sequence[Extractor]) -> list[str]:
    """Columns the planner reads from the table."""
    cols = ["file_bytes", "file_mtime_ns", "file_hash", "track_id", "status", "stems"]
    for ext in extractors:
        cols += bookkeeping_columns(ext.name)
    return cols


def _is_failed(status: Any) -> bool:
    return isinstance(status, str) and status.startswith("failed")


def make_plan(
    tracks: Sequence[Track],
    prior: dict[str, dict[str, Any]],
    extractors: Sequence[Extractor],
    retry_failed: bool,
    unavailable: dict[str, str] | None = None,
) -> Plan:
    """Compare each discovered file with its row.

    New file: everything. Size or mtime changed: everything, unless the worker finds the bytes
    identical. Otherwise: extractors whose version or parameters differ (and what depends on them),
    plus failed ones with ``retry_failed``. Unavailable extractors (missing weights) never run.
    """
    unavailable = unavailable or {}
    runnable = [e for e in extractors if e.name not in unavailable]
    all_names = [e.name for e in runnable]
    classes = [type(e) for e in runnable]
    plan = Plan()
    for track in tracks:
        row = prior.get(track.relative_path)
        if row is None:
            plan.todo.append(PlannedTrack(track, all_names, [], "new"))
            continue
        stale: set[str] = set()
        failed: set[str] = set()
        for ext in runnable:
            version, params, status = bookkeeping_columns(ext.name)
            if row.get(version) != ext.version or row.get(params) != ext.params_hash:
                stale.add(ext.name)
            elif _is_failed(row.get(status)):
                failed.add(ext.name)
        if sorted(row.get("stems") or []) != sorted(track.stems):  # stems added or removed
            stale |= {e.name for e in runnable if "stems" in e.needs}
        decode_failed = _is_failed(row.get("status")) and row.get("track_id") is None
        if retry_failed:
            stale |= failed
        stale = dependents(classes, stale)
        stale_list = [n for n in all_names if n in stale]
        changed = (row.get("file_bytes"), row.get("file_mtime_ns")) != (
            track.file_bytes,
            track.mtime_ns,
        )
        if changed:
            plan.todo.append(PlannedTrack(track, all_names, stale_list, "changed"))
        elif decode_failed and retry_failed:
            plan.todo.append(PlannedTrack(track, all_names, all_names, "retry"))
        elif decode_failed:
            plan.failed_skipped.append((track.relative_path, str(row.get("status"))))
        elif stale_list:
            plan.todo.append(PlannedTrack(track, stale_list, stale_list, "stale"))
        elif failed:
            reasons = "; ".join(
                f"{n}: {row.get(bookkeeping_columns(n)[2])}" for n in all_names if n in failed
            )
            plan.failed_skipped.append((track.relative_path, reasons))
        else:
            plan.up_to_date.append(track.relative_path)
    return plan
