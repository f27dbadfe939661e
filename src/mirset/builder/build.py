"""``build``: discover → plan → execute → commit rows in batches → summary."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from rich.console import Console
from rich.markup import escape

from mirset import __version__
from mirset.builder.discover import discover
from mirset.builder.executors.local import LocalExecutor, WorkerSpec
from mirset.builder.executors.ray_executor import RayExecutor, RaySettings
from mirset.builder.plan import Plan, make_plan, prior_columns
from mirset.builder.process import TrackResult, TrackTask
from mirset.builder.report import BuildSummary, make_progress, print_summary
from mirset.config import MirsetConfig
from mirset.export.store import CONFIG_HASH_KEY, CONFIG_KEY, TrackStore
from mirset.extractors.base import Extractor, resolve
from mirset.models import default_models_dir, use_store
from mirset.models import store as models_store
from mirset.schemas.table import KEY, bookkeeping_columns, table_schema

TABLE_DIR = "table"


class BuildError(Exception):
    """A problem that stops the whole build (not a per-track failure)."""


def table_path(out_dir: Path) -> Path:
    return Path(out_dir) / TABLE_DIR


def build(
    music_dir: Path,
    out_dir: Path,
    config: MirsetConfig,
    console: Console | None = None,
    progress: bool = True,
    shared_context: bool = True,
) -> BuildSummary:
    """Build or update the dataset in ``out_dir`` from the audio in ``music_dir``."""
    console = console or Console(stderr=True)
    music_dir = Path(music_dir).resolve()
    out_dir = Path(out_dir).resolve()
    if not music_dir.is_dir():
        raise BuildError(f"music folder not found: {music_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out_dir / ".mirset-build.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout as e:
        raise BuildError(f"another build is writing to {out_dir}") from e
    try:
        return _build_locked(music_dir, out_dir, config, console, progress, shared_context)
    finally:
        lock.release()


def auto_track_batch(extractors: list[Extractor]) -> int:
    """4 tracks per worker call when some extractor batches and a CUDA GPU is there, else 1."""
    if not any(e.resources.batch_size > 1 for e in extractors):
        return 1
    try:
        import torch

        return 4 if torch.cuda.is_available() else 1
    except ImportError:
        return 1


def report_unavailable(
    console: Console, extractors: list[Extractor], reasons: dict[str, str]
) -> None:
    """Say up front what will not run: one line and one fetch command for every extractor that
    only lacks weights, the reason for the others (e.g. a package that is not installed)."""
    weights = models_store()
    lacking: dict[str, list[str]] = {}  # extractor -> its missing models
    for e in extractors:
        try:
            missing = [m for m in e.weights if not weights.present(m)]
        except KeyError:
            missing = []
        only_weights = missing and "not in" in reasons[e.name] and "fetch" in reasons[e.name]
        if only_weights:
            lacking[e.name] = missing
        else:
            console.print(f"[yellow]{e.name} will not run:[/] {escape(reasons[e.name])}")
    if lacking:
        names = list(dict.fromkeys(m for ms in lacking.values() for m in ms))
        flag = "" if weights.root == default_models_dir() else f" --models-dir {weights.root}"
        console.print(
            f"[yellow]{len(lacking)} extractor(s) will not run, their model weights are not in "
            f"{escape(str(weights.root))}:[/] {', '.join(lacking)}"
        )
        console.print(f"  fetch them: mirset models fetch {' '.join(names)}{flag}", markup=False)
        console.print(f"  or leave them out: -x {','.join(lacking)}", markup=False)


def _build_locked(
    music_dir: Path,
    out_dir: Path,
    config: MirsetConfig,
    console: Console,
    progress: bool,
    shared_context: bool,
) -> BuildSummary:
    bc = config.build
    summary = BuildSummary(table_path=str(table_path(out_dir)))
    use_store(bc.models_dir)
    classes = [c for c in resolve(bc.extractors) if c.name not in bc.exclude]
    extractors = [cls(config.extractor_params.get(cls.name)) for cls in classes]
    unavailable = {e.name: r for e in extractors if (r := e.unavailable_reason())}
    summary.unavailable = unavailable
    report_unavailable(console, [e for e in extractors if e.name in unavailable], unavailable)
    schema = table_schema(classes)
    store = TrackStore(table_path(out_dir))

    found = discover(music_dir, out_dir, bc.sidecars, bc.stems)
    summary.discovered = len(found.tracks)
    summary.ignored = found.ignored
    prior = store.prior_state(prior_columns(extractors))
    plan = make_plan(found.tracks, prior, extractors, bc.retry_failed, unavailable)
    summary.planned = len(plan.todo)
    summary.up_to_date = len(plan.up_to_date)
    summary.failed_skipped = len(plan.failed_skipped)
    summary.skipped_failures = plan.failed_skipped

    runnable = {e.name: e for e in extractors if e.name not in unavailable}
    spec = WorkerSpec(
        extractor_params={n: config.extractor_params.get(n, {}) for n in runnable},
        analysis=config.analysis,
        max_duration_s=bc.max_duration_s,
        max_decoded_bytes=bc.max_decoded_mb * 2**20,
        shared_context=shared_context,
        models_dir=str(models_store().root),
    )
    batch = bc.track_batch or auto_track_batch(list(runnable.values()))
    executor: LocalExecutor | RayExecutor
    if bc.executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError as e:
            raise BuildError("--executor ray needs Ray: pip install 'mirset[ray]'") from e
        settings = RaySettings(bc.ray_address, bc.ray_cpu_actors, bc.ray_gpu_actors, bc.ray_retries)
        executor = RayExecutor(spec, settings, bc.track_timeout_s, batch)
    else:
        executor = LocalExecutor(spec, bc.workers, bc.track_timeout_s, batch)
    previous_rows: dict[str, dict[str, Any]] = {}
    config_hash = config.config_hash()
    all_names = [e.name for e in extractors]

    provenance = {
        CONFIG_HASH_KEY: config_hash,
        CONFIG_KEY: json.dumps(
            {
                "mirset_version": __version__,
                "analysis": config.analysis.model_dump(mode="json"),
                "extractor_params": config.extractor_params,
                "extractors": {e.name: e.version for e in extractors},
                "unavailable": sorted(unavailable),
            },
            sort_keys=True,
        ),
    }
    sink = _RowSink(store, schema, bc.batch_size, provenance)
    with make_progress(console, progress) as bar:
        task_id = bar.add_task("analysing", total=len(plan.todo), audio_s=0.0)
        results = executor.run(_tasks(plan, music_dir, store, previous_rows, bc.sidecars))
        try:
            for result in results:
                row = _finalize(
                    previous_rows.pop(result.relative_path, None), result, config_hash, all_names
                )
                sink.add(row)
                summary.audio_s += result.audio_s
                for step, sec in result.timings.items():
                    summary.step_s[step] += sec
                if row["status"] == "ok":
                    summary.ok += 1
                else:
                    summary.failed += 1
                    summary.failures.append((result.relative_path, row["status"]))
                bar.update(task_id, advance=1, audio_s=summary.audio_s)
        except KeyboardInterrupt:
            summary.interrupted = True  # Ctrl-C: keep every finished row
        finally:
            results.close()  # stops the workers / actors
            sink.flush()
    if isinstance(executor, RayExecutor):
        summary.stages = {k: asdict(v) for k, v in executor.stages.items()}
    if summary.planned and not summary.interrupted:
        store.compact_if_fragmented()
    summary.wall_s = time.perf_counter() - summary.started
    summary.table_version = store.version()
    print_summary(console, summary)
    return summary


class _RowSink:
    """Rows waiting for their commit: every ``batch_size`` rows go into one table version."""

    def __init__(
        self, store: TrackStore, schema: Any, batch_size: int, metadata: dict[str, str]
    ) -> None:
        self.store, self.schema, self.batch_size = store, schema, batch_size
        self.metadata = metadata  # the build's configuration, recorded in every commit
        self.pending: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self.pending.append(row)
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        self.store.commit(self.pending, self.schema, self.metadata)
        self.pending = []


def _tasks(
    plan: Plan,
    music_dir: Path,
    store: TrackStore,
    previous_rows: dict[str, dict],
    sidecars: str,
    chunk: int = 64,
) -> Iterator[TrackTask]:
    """Tasks in plan order; prior rows are read from the table a chunk at a time."""
    for i in range(0, len(plan.todo), chunk):
        items = plan.todo[i : i + chunk]
        known = [p.track.relative_path for p in items if p.reason != "new"]
        rows = store.read_rows(known)
        for p in items:
            t = p.track
            prev = rows.get(t.relative_path)
            if prev is not None:
                previous_rows[t.relative_path] = prev
            yield TrackTask(
                path=str(t.path),
                relative_path=t.relative_path,
                layout=t.layout,
                folder_name=t.folder_name,
                sidecar_dir=str(t.sidecar_dir),
                stems=dict(t.stems),
                music_dir=str(music_dir),
                run=p.run,
                stale=p.stale,
                previous=prev,
                write_sidecars=sidecars != "none",
                stems_dir=str(t.stems_dir) if t.stems_dir else None,
            )


def _finalize(
    previous: dict[str, Any] | None,
    result: TrackResult,
    config_hash: str,
    extractor_names: list[str],
) -> dict[str, Any]:
    """The full row: the prior row overlaid with what was computed, plus provenance and status."""
    row = dict(previous or {})
    if not result.error and previous and result.row.get("file_hash") != previous.get("file_hash"):
        row = {}  # content changed: nothing of the old row survives
    row.update(result.row)
    row[KEY] = result.relative_path
    row["config_hash"] = config_hash
    row["built_at"] = datetime.now(UTC)
    if result.error:
        row["status"] = f"failed: {result.error}"
    else:
        failed = [
            n
            for n in extractor_names
            if str(row.get(bookkeeping_columns(n)[2]) or "").startswith("failed")
        ]
        row["status"] = "ok" if not failed else f"failed: {', '.join(failed)} failed"
    return row
