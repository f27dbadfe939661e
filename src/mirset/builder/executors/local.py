"""The local executor: a pool of worker processes on this machine (or in-process with 0 workers).

Each worker builds and sets up its extractors once (models load once per worker), then runs
``process_track`` on the tracks it is given. Pebble enforces the per-track time limit by killing
and replacing a worker that overruns, and turns a crashed worker into a failed row.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, TimeoutError
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock
from pebble import ProcessExpired, ProcessPool

from mirset.builder.process import TrackResult, TrackTask, failed_result, process_tracks
from mirset.config import AnalysisConfig
from mirset.extractors.base import Extractor, registry
from mirset.models import use_store


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to build its extractors (picklable)."""

    extractor_params: dict[str, dict]
    analysis: AnalysisConfig
    max_duration_s: float
    max_decoded_bytes: int | None
    shared_context: bool = True
    models_dir: str | None = None


SETUP_LOCK = Path(tempfile.gettempdir()) / "mirset-worker-setup.lock"


def build_extractors(spec: WorkerSpec) -> dict[str, Extractor]:
    """Instantiate and set up the extractors once for this worker.

    Set-up runs one worker at a time: it JIT-compiles numba kernels (librosa's, ours) whose
    on-disk cache got corrupted when several fresh workers wrote it at once, which then
    crashed every worker with a segfault on every later run.
    """
    use_store(spec.models_dir)
    known = registry()
    out: dict[str, Extractor] = {}
    with FileLock(str(SETUP_LOCK)):
        for name, params in spec.extractor_params.items():
            ext = known[name](params)
            ext.setup()
            out[name] = ext
    return out


_WORKER: dict[str, object] = {}


def _init_worker(spec: WorkerSpec) -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one core per worker: parallelism comes from the pool
    _WORKER["spec"] = spec
    _WORKER["extractors"] = build_extractors(spec)


def _run_in_worker(tasks: list[TrackTask]) -> list[TrackResult]:
    spec: WorkerSpec = _WORKER["spec"]  # type: ignore[assignment]
    extractors: dict[str, Extractor] = _WORKER["extractors"]  # type: ignore[assignment]
    return process_tracks(
        tasks,
        extractors,
        spec.analysis,
        spec.max_duration_s,
        spec.max_decoded_bytes,
        spec.shared_context,
    )


class LocalExecutor:
    """Runs tasks on ``workers`` processes (0: in this process, without a time limit).

    Each worker call takes ``track_batch`` tracks, so extractors that batch (the GPU models) see
    several tracks per forward pass; its time limit is the per-track limit times the number of
    tracks, and a worker that dies or overruns fails the tracks of that call.
    """

    def __init__(
        self, spec: WorkerSpec, workers: int, timeout_s: float | None, track_batch: int = 1
    ) -> None:
        self.spec = spec
        self.workers = workers
        self.track_batch = max(1, track_batch)
        self.timeout_s = timeout_s if timeout_s and timeout_s > 0 else None
        # not set up: used only to describe versions in rows of tracks that failed in a worker
        self._unset = {n: registry()[n](p) for n, p in spec.extractor_params.items()}

    def run(self, tasks: Iterable[TrackTask]) -> Iterator[TrackResult]:
        groups = _groups(tasks, self.track_batch)
        if self.workers <= 0:
            extractors = build_extractors(self.spec)
            for group in groups:
                yield from process_tracks(
                    group,
                    extractors,
                    self.spec.analysis,
                    self.spec.max_duration_s,
                    self.spec.max_decoded_bytes,
                    self.spec.shared_context,
                )
            return
        yield from self._run_pool(groups)

    def _run_pool(self, groups: Iterable[list[TrackTask]]) -> Iterator[TrackResult]:
        ctx = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
        in_flight: deque[tuple[list[TrackTask], Future]] = deque()
        window = 2 * self.workers  # backpressure: only this many calls are queued at once
        with ProcessPool(
            max_workers=self.workers, initializer=_init_worker, initargs=(self.spec,), context=ctx
        ) as pool:
            it = iter(groups)
            exhausted = False
            while True:
                while not exhausted and len(in_flight) < window:
                    try:
                        group = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    limit = self.timeout_s * len(group) if self.timeout_s else None
                    future = pool.schedule(_run_in_worker, args=(group,), timeout=limit)
                    in_flight.append((group, future))
                if not in_flight:
                    return
                done = _first_done(in_flight)
                group, future = done
                in_flight.remove(done)
                yield from self._collect(group, future)

    def _collect(self, group: list[TrackTask], future: Future) -> list[TrackResult]:
        extractors = self._unset
        try:
            return future.result()
        except TimeoutError:
            limit = f"{self.timeout_s:g} s" + (f" x {len(group)} tracks" if len(group) > 1 else "")
            why = f"timed out after {limit} (build.track_timeout_s)"
        except ProcessExpired as e:
            why = f"worker process died ({e}; exit code {e.exitcode})"
        except Exception as e:
            why = f"worker error: {type(e).__name__}: {e}"
        return [failed_result(task, extractors, why) for task in group]


def _groups(tasks: Iterable[TrackTask], size: int) -> Iterator[list[TrackTask]]:
    group: list[TrackTask] = []
    for task in tasks:
        group.append(task)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _first_done(in_flight: deque[tuple[list[TrackTask], Future]]) -> tuple[list[TrackTask], Future]:
    from concurrent.futures import FIRST_COMPLETED, wait

    wait([f for _, f in in_flight], return_when=FIRST_COMPLETED)
    for item in in_flight:
        if item[1].done():
            return item
    raise RuntimeError("no finished future")  # pragma: no cover
