"""``process_track``: the one code path that turns a planned track into a row (any executor)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mirset import __version__
from mirset.audio import DecodeError
from mirset.config import AnalysisConfig
from mirset.context import TrackContext
from mirset.export.sidecars import merge_info, write_times
from mirset.extractors.base import Extractor, Null
from mirset.schemas.table import bookkeeping_columns

HASH_CHUNK = 1 << 22


@dataclass
class TrackTask:
    """A planned unit of work: one file, the extractors to run, and the row it updates."""

    path: str
    relative_path: str
    layout: str
    folder_name: str
    sidecar_dir: str
    stems: dict[str, str]
    music_dir: str
    run: list[str]  # extractors to run when the content changed or is new
    stale: list[str]  # extractors to run if the file turns out byte-identical to the prior row
    previous: dict[str, Any] | None = None  # the prior row (values for unchanged dependencies)
    write_sidecars: bool = True
    stems_dir: str | None = None  # where separated stems go


@dataclass
class TrackResult:
    """What a worker sends back: the computed columns and how long each step took."""

    relative_path: str
    row: dict[str, Any]
    ran: list[str]
    error: str | None = None
    audio_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def hash_file(path: Path) -> str:
    """blake2b-128 of the file's bytes."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def audio_id(samples: np.ndarray, sample_rate: int) -> str:
    """Content hash of decoded audio: equal for the same audio whatever the container."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(sample_rate).encode())
    h.update(np.ascontiguousarray(samples, dtype=np.float32).tobytes())
    return h.hexdigest()


def identity_row(task: TrackTask) -> dict[str, Any]:
    stem_names = sorted(task.stems)
    return {
        "relative_path": task.relative_path,
        "source_path": task.path,
        "folder_name": task.folder_name,
        "layout": task.layout,
        "stems": stem_names,
        "stem_paths": [task.stems[s] for s in stem_names],
        "sidecar_dir": task.sidecar_dir,
        "mirset_version": __version__,
    }


def stem_path_str(path: Path, music_dir: str) -> str:
    """A stem's path as rows store it: relative to the music folder when inside it."""
    try:
        return Path(path).resolve().relative_to(Path(music_dir).resolve()).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def failed_result(
    task: TrackTask,
    extractors: Mapping[str, Extractor],
    reason: str,
    ran: Sequence[str] | None = None,
) -> TrackResult:
    """A row saying the whole track failed, with the reason on every extractor it should have run."""
    row = identity_row(task) | {"status": f"failed: {reason}", "track_id": None}
    names = list(ran if ran is not None else task.run)
    for name in names:
        ext = extractors.get(name)
        version, params, status = bookkeeping_columns(name)
        row |= {
            version: ext.version if ext else None,
            params: ext.params_hash if ext else None,
            status: f"failed: {reason}",
        }
        for f in ext.fields if ext else ():
            row[f.name] = None
    return TrackResult(task.relative_path, row, names, error=reason)


def _sanitize(ext: Extractor, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Coerce values to their field types; nulls carry their reasons into the status note."""
    out: dict[str, Any] = {}
    notes: list[str] = []
    for f in ext.fields:
        if f.name not in values:
            out[f.name] = None
            notes.append(f"{f.name}: not produced")
            continue
        value = values[f.name]
        if isinstance(value, Null):
            out[f.name] = None
            notes.append(f"{f.name}: {value.reason}")
            continue
        coerced, reason = f.coerce(value)
        out[f.name] = coerced
        if reason:
            notes.append(f"{f.name}: {reason}")
    return out, notes


@dataclass
class _Open:
    """A decoded track between its extractors: its context, row so far and timings."""

    task: TrackTask
    ctx: TrackContext
    row: dict[str, Any]
    run: list[str]
    timings: dict[str, float]


def process_track(
    task: TrackTask,
    extractors: Mapping[str, Extractor],
    analysis: AnalysisConfig,
    max_duration_s: float,
    max_decoded_bytes: int | None,
    shared_context: bool = True,
) -> TrackResult:
    """Hash, decode once, run the planned extractors in order, write sidecars, return the row.

    ``shared_context=False`` decodes and transforms the audio again for every extractor, as the
    old tool did; it exists only so benchmarks can measure what sharing saves.
    """
    return process_tracks(
        [task], extractors, analysis, max_duration_s, max_decoded_bytes, shared_context
    )[0]


def process_tracks(
    tasks: Sequence[TrackTask],
    extractors: Mapping[str, Extractor],
    analysis: AnalysisConfig,
    max_duration_s: float,
    max_decoded_bytes: int | None,
    shared_context: bool = True,
) -> list[TrackResult]:
    """:func:`process_track` for several tracks at once: each is decoded once, then every
    extractor runs on all of them in turn — through ``extract_batch`` when it batches
    (``resources.batch_size`` > 1: the GPU models), so one forward pass serves several tracks."""
    prepared = [_prepare(t, extractors, analysis, max_duration_s, max_decoded_bytes) for t in tasks]
    open_tracks = [p for p in prepared if isinstance(p, _Open)]
    for name, ext in extractors.items():
        group = [t for t in open_tracks if name in t.run]
        if group:
            _run_extractor(
                name, ext, group, extractors, analysis, max_decoded_bytes, shared_context
            )
    return [p if isinstance(p, TrackResult) else _finish(p, extractors) for p in prepared]


def _prepare(
    task: TrackTask,
    extractors: Mapping[str, Extractor],
    analysis: AnalysisConfig,
    max_duration_s: float,
    max_decoded_bytes: int | None,
) -> TrackResult | _Open:
    """Hash and decode; a finished result when there is nothing to run or decoding fails."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    path = Path(task.path)
    try:
        st = path.stat()
        file_hash = hash_file(path) if path.is_file() else None
    except OSError as e:
        return failed_result(task, extractors, f"cannot read file: {e.strerror or e}")
    timings["hash"] = time.perf_counter() - t0
    base = identity_row(task) | {
        "file_bytes": st.st_size,
        "file_mtime_ns": st.st_mtime_ns,
        "file_hash": file_hash,
    }
    previous = task.previous or {}
    run = list(task.run)
    if previous and file_hash is not None and previous.get("file_hash") == file_hash:
        run = list(task.stale)  # touched but byte-identical: only what is out of date
    if not run:
        return TrackResult(task.relative_path, base, [], timings=timings)

    t1 = time.perf_counter()
    stem_paths = {name: Path(task.music_dir) / rel for name, rel in task.stems.items()}
    try:
        stems_dir = Path(task.stems_dir) if task.stems_dir else None
        ctx = TrackContext.from_file(path, analysis, stem_paths, max_decoded_bytes, stems_dir)
    except DecodeError as e:
        result = failed_result(task, extractors, str(e), run)
        result.row |= base
        return result
    except MemoryError:
        result = failed_result(task, extractors, "out of memory while decoding", run)
        result.row |= base
        return result
    timings["decode"] = time.perf_counter() - t1
    if ctx.duration_s > max_duration_s:
        result = failed_result(
            task,
            extractors,
            f"longer than build.max_duration_s ({ctx.duration_s:.0f} s > {max_duration_s:.0f} s)",
            run,
        )
        result.row |= base
        return result

    row = base | {
        "track_id": audio_id(ctx.samples, ctx.sample_rate),
        "duration_s": ctx.duration_s,
        "sample_rate": ctx.sample_rate,
        "channels": ctx.audio.channels,
        "codec": ctx.audio.codec,
    }
    for name, ext in extractors.items():  # prior values of dependencies that are not re-run
        if name not in run and (previous.get(bookkeeping_columns(name)[2]) or "").startswith("ok"):
            ctx.results[name] = {f.name: previous.get(f.name) for f in ext.fields}
    return _Open(task, ctx, row, run, timings)


def _run_extractor(
    name: str,
    ext: Extractor,
    group: list[_Open],
    extractors: Mapping[str, Extractor],
    analysis: AnalysisConfig,
    max_decoded_bytes: int | None,
    shared_context: bool,
) -> None:
    """Run one extractor on the tracks of ``group`` that have what it needs."""
    version, params, status = bookkeeping_columns(name)
    ready = []
    for t in group:
        t.row |= {version: ext.version, params: ext.params_hash}
        missing = [d for d in ext.needs if d in extractors and d not in t.ctx.results]
        if missing:
            t.row |= {f.name: None for f in ext.fields}
            t.row[status] = f"failed: needs {', '.join(missing)}"
        else:
            ready.append(t)
    size = ext.resources.batch_size if shared_context else 1
    for lo in range(0, len(ready), max(1, size)):
        chunk = ready[lo : lo + max(1, size)]
        if len(chunk) > 1:
            _run_batch(name, ext, chunk)
        else:
            _run_one(name, ext, chunk[0], analysis, max_decoded_bytes, shared_context)


def _record(name: str, ext: Extractor, t: _Open, raw: dict[str, Any] | BaseException) -> None:
    status = bookkeeping_columns(name)[2]
    if isinstance(raw, MemoryError):
        values, note = {f.name: None for f in ext.fields}, "failed: out of memory"
    elif isinstance(raw, BaseException):
        values = {f.name: None for f in ext.fields}
        note = f"failed: {type(raw).__name__}: {str(raw)[:300]}"
    else:
        values, notes = _sanitize(ext, raw)
        note = "ok" + (f"; {'; '.join(notes)}" if notes else "")
        t.ctx.results[name] = values
    t.row |= values
    t.row[status] = note


def _run_one(
    name: str,
    ext: Extractor,
    t: _Open,
    analysis: AnalysisConfig,
    max_decoded_bytes: int | None,
    shared_context: bool,
) -> None:
    t2 = time.perf_counter()
    views_before = t.ctx.views_total_s
    work_ctx = t.ctx if shared_context else _fresh_context(t.ctx, analysis, max_decoded_bytes)
    try:
        raw: dict[str, Any] | BaseException = ext.extract(work_ctx)
    except Exception as e:  # one extractor's failure (MemoryError too) never stops the others
        raw = e
    _record(name, ext, t, raw)
    # views an extractor triggers are reported as views, not as that extractor's time
    t.timings[name] = time.perf_counter() - t2 - (t.ctx.views_total_s - views_before)


def _run_batch(name: str, ext: Extractor, chunk: list[_Open]) -> None:
    """One ``extract_batch`` call for the chunk; if it raises, each track alone (so one bad
    track fails alone). Its time is shared among the tracks by duration."""
    t2 = time.perf_counter()
    views_before = [t.ctx.views_total_s for t in chunk]
    try:
        results = ext.extract_batch([t.ctx for t in chunk])
        if len(results) != len(chunk):
            raise RuntimeError(f"extract_batch returned {len(results)} rows for {len(chunk)}")
    except Exception:
        for t in chunk:
            _run_one(name, ext, t, AnalysisConfig(), None, True)
        return
    for t, raw in zip(chunk, results, strict=True):
        _record(name, ext, t, raw)
    views = sum(t.ctx.views_total_s - b for t, b in zip(chunk, views_before, strict=True))
    own = time.perf_counter() - t2 - views
    total = sum(t.ctx.duration_s for t in chunk) or 1.0
    for t in chunk:
        t.timings[name] = own * t.ctx.duration_s / total


def _finish(t: _Open, extractors: Mapping[str, Extractor]) -> TrackResult:
    """Record separated stems, write the sidecars, report the timings."""
    task, ctx, row = t.task, t.ctx, t.row
    if set(ctx.stem_paths) != set(task.stems):  # stems written by separation in this run
        names = sorted(ctx.stem_paths)
        row["stems"] = names
        row["stem_paths"] = [stem_path_str(ctx.stem_paths[n], task.music_dir) for n in names]

    row["sidecar_status"] = "off"
    if task.write_sidecars:
        t3 = time.perf_counter()
        try:
            write_sidecars(
                Path(task.sidecar_dir), task.folder_name, row, [extractors[n] for n in t.run]
            )
            row["sidecar_status"] = "ok"
        except (OSError, ValueError) as e:
            row["sidecar_status"] = f"failed: {type(e).__name__}: {e}"
        t.timings["sidecars"] = time.perf_counter() - t3
    for view, seconds in ctx.view_seconds.items():
        t.timings[f"view:{view}"] = seconds
    return TrackResult(task.relative_path, row, t.run, audio_s=ctx.duration_s, timings=t.timings)


def _fresh_context(
    ctx: TrackContext, analysis: AnalysisConfig, max_decoded_bytes: int | None
) -> TrackContext:
    start = time.perf_counter()
    fresh = TrackContext.from_file(
        ctx.path, analysis, ctx.stem_paths, max_decoded_bytes, ctx.stems_dir
    )
    fresh.stem_paths = ctx.stem_paths  # stems separated by one extractor serve the next
    ctx.view_seconds["decode (again)"] = (
        ctx.view_seconds.get("decode (again)", 0.0) + time.perf_counter() - start
    )
    fresh.results = ctx.results
    fresh.view_seconds = ctx.view_seconds
    return fresh


def write_sidecars(
    folder: Path, base: str, row: Mapping[str, Any], extractors: Sequence[Extractor]
) -> None:
    """Write ``<base>.INFO`` (merge) and the text sidecars of the fields these extractors own."""
    info: dict[str, Any] = {}
    for ext in extractors:
        status = row.get(bookkeeping_columns(ext.name)[2]) or ""
        if not status.startswith("ok"):
            continue  # a failed extractor leaves existing sidecar values untouched
        for f in ext.fields:
            if f.sidecar:
                write_times(folder / f"{base}{f.sidecar}", row.get(f.name) or [])
            elif f.legacy_key:
                info[f.legacy_key] = f.info_value(row.get(f.name))
    if info:
        merge_info(folder / f"{base}.INFO", info)
