"""The Ray executor: the same tracks, rows and resume behaviour as the local one, on a cluster.

Two stages of Ray Core actors, each actor building its extractors (and loading their models)
once, as a local worker does:

- the **GPU stage** runs the extractors that declare a GPU (Demucs stems, Audiobox, Music
  Flamingo) — plus any CPU extractor they depend on — in actors that hold ``num_gpus`` (the
  largest fraction those extractors declare, so small models can share a GPU). On a cluster
  without GPUs the same actors run with ``num_gpus=0``, models on the CPU;
- the **CPU stage** runs every other extractor in one single-core actor per remaining CPU,
  with the GPU stage's values in hand (stem features read the separated stems, the prompt reads
  the descriptions), exactly as the local executor passes prior values on.

The driver keeps one call in flight per actor (backpressure: whatever the collection size, only
a handful of tasks and their compact rows are in the object store; audio never leaves the
actor that decodes it) and hands the rows to ``build``, which commits them in batches exactly as
with the local executor. An actor that dies mid-call is restarted by Ray and the call retried
(up to ``retries`` times, then its tracks become failed rows); a call past its time limit kills
its actor (restarted) and fails its tracks, as the local executor's time limit does.

Why actors and not Ray Data: a build must stream rows back to one committer, retry per call,
fail per track and honour per-track time limits; those map one-to-one onto actor calls, while
Ray Data's operators retry whole blocks and buffer between stages.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from mirset.builder.executors.local import WorkerSpec, _groups, build_extractors
from mirset.builder.process import TrackResult, TrackTask, failed_result, process_tracks
from mirset.extractors.base import Extractor, registry


class GpuMeter:
    """Samples the utilisation of this actor's GPU(s) through NVML while a call runs."""

    def __init__(self, handles: list[Any]) -> None:
        self.handles, self.samples, self.total = handles, 0, 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_this_actor(cls) -> GpuMeter | None:
        try:
            import pynvml
            import ray

            ids = [int(i) for i in ray.get_gpu_ids()]
            if not ids:
                return None
            pynvml.nvmlInit()
            return cls([pynvml.nvmlDeviceGetHandleByIndex(i) for i in ids])
        except Exception:  # no NVML, no GPU, or not inside Ray: utilisation unknown
            return None

    def _sample(self) -> None:
        import pynvml

        while not self._stop.wait(0.5):
            for h in self.handles:
                self.total += pynvml.nvmlDeviceGetUtilizationRates(h).gpu
                self.samples += 1

    def mean(self) -> float:
        return self.total / self.samples

    def __enter__(self) -> GpuMeter:
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()


RECOVERY_TIMEOUT_S = 300.0  # an actor not back after this long is left out


class _StageWorker:
    """One actor: its extractors set up once, then any number of ``run`` calls."""

    def __init__(self, spec: WorkerSpec, names: list[str], stage: str, threads: int) -> None:
        from threadpoolctl import threadpool_limits

        if threads:
            threadpool_limits(threads)
        sub = replace(spec, extractor_params={n: spec.extractor_params[n] for n in names})
        self.spec = sub
        self.extractors = build_extractors(sub)
        self.stats = {"stage": stage, "pid": os.getpid(), "setups": 1, "tracks": 0, "busy_s": 0.0}
        self.gpu_meter = GpuMeter.for_this_actor() if stage == "gpu" else None

    def run(self, tasks: list[TrackTask]) -> list[TrackResult]:
        t0 = time.perf_counter()
        with self.gpu_meter or contextlib.nullcontext():
            out = process_tracks(
                tasks,
                self.extractors,
                self.spec.analysis,
                self.spec.max_duration_s,
                self.spec.max_decoded_bytes,
                self.spec.shared_context,
            )
        self.stats["tracks"] += len(tasks)
        self.stats["busy_s"] += time.perf_counter() - t0
        if self.gpu_meter and self.gpu_meter.samples:
            self.stats["gpu_util_pct"] = self.gpu_meter.mean()
        return out

    def get_stats(self) -> dict[str, Any]:
        return dict(self.stats)

    def pid(self) -> int:
        return os.getpid()


@dataclass
class RaySettings:
    """Where Ray runs and how many actors each stage gets (0 = from the cluster's resources)."""

    address: str | None = None
    cpu_actors: int = 0
    gpu_actors: int = 0
    retries: int = 2


@dataclass
class StageStats:
    actors: int = 0
    num_gpus: float = 0.0
    tracks: int = 0
    busy_s: float = 0.0
    restarts: int = 0
    gpu_util_pct: float | None = None  # mean NVML utilisation while GPU-stage calls ran
    per_actor: list[dict[str, Any]] = field(default_factory=list)


def split_stages(extractors: dict[str, Extractor]) -> tuple[list[str], list[str]]:
    """(GPU-stage names, CPU-stage names) in run order: extractors that declare a GPU and,
    transitively, what they depend on go to the GPU stage."""
    gpu: set[str] = {n for n, e in extractors.items() if e.resources.gpus > 0}
    grew = True
    while grew:
        grew = False
        for n in list(gpu):
            cls = type(extractors[n])
            for dep in (*cls.needs, *getattr(cls, "uses", ())):
                if dep in extractors and dep not in gpu:
                    gpu.add(dep)
                    grew = True
    order = list(extractors)
    return [n for n in order if n in gpu], [n for n in order if n not in gpu]


@dataclass
class _Call:
    stage: str
    actor: Any
    group: list[TrackTask]
    ref: Any
    started: float
    attempt: int = 0
    gpu_results: list[TrackResult] | None = None  # the GPU stage's results, for a CPU call


class RayExecutor:
    """Runs tasks through the two actor stages on a local or remote Ray cluster."""

    def __init__(
        self,
        spec: WorkerSpec,
        settings: RaySettings,
        timeout_s: float | None,
        track_batch: int = 1,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.timeout_s = timeout_s if timeout_s and timeout_s > 0 else None
        self.track_batch = max(1, track_batch)
        self._unset = {n: registry()[n](p) for n, p in spec.extractor_params.items()}
        self.gpu_names, self.cpu_names = split_stages(self._unset)
        self.stages: dict[str, StageStats] = {}

    # -- cluster ------------------------------------------------------------------------
    def _start(self) -> None:
        import ray

        if not ray.is_initialized():
            address = self.settings.address or os.environ.get("RAY_ADDRESS")
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                logging_level="WARNING",
                configure_logging=False,
            )
        resources = ray.cluster_resources()
        cpus, gpus = int(resources.get("CPU", 1)), float(resources.get("GPU", 0))
        frac = max((self._unset[n].resources.gpus for n in self.gpu_names), default=0.0)
        num_gpus = min(frac, 1.0) if gpus > 0 else 0.0
        n_gpu = 0
        if self.gpu_names:
            n_gpu = self.settings.gpu_actors or (max(1, int(gpus / num_gpus)) if num_gpus else 1)
        n_cpu = 0
        if self.cpu_names:
            n_cpu = self.settings.cpu_actors or max(1, cpus - n_gpu)
        self.actors: dict[str, list[Any]] = {"gpu": [], "cpu": []}
        remote = ray.remote(_StageWorker)
        for stage, names, n, g, threads in (
            ("gpu", self.gpu_names, n_gpu, num_gpus, 0),
            ("cpu", self.cpu_names, n_cpu, 0.0, 1),
        ):
            self.stages[stage] = StageStats(actors=n, num_gpus=g)
            for _ in range(n):
                actor = remote.options(
                    num_cpus=1, num_gpus=g, max_restarts=-1, max_task_retries=0
                ).remote(self.spec, names, stage, threads)
                self.actors[stage].append(actor)
        self._idle: dict[str, deque[Any]] = {s: deque(a) for s, a in self.actors.items()}
        self._recovering: dict[Any, tuple[Any, str, float]] = {}  # ping ref -> actor

    def _stop(self, collect_stats: bool = True) -> None:
        import ray

        for stage, actors in self.actors.items():
            st = self.stages[stage]
            for a in actors:
                if not collect_stats:
                    ray.kill(a)
                    continue
                try:
                    stats = ray.get(a.get_stats.remote(), timeout=30)
                    st.busy_s += stats["busy_s"]
                    st.per_actor.append(stats)
                    if "gpu_util_pct" in stats:
                        known = [p["gpu_util_pct"] for p in st.per_actor if "gpu_util_pct" in p]
                        st.gpu_util_pct = sum(known) / len(known)
                except Exception:
                    st.per_actor.append({"stage": stage, "lost": True})
                ray.kill(a)
        self.actors = {}

    # -- scheduling ---------------------------------------------------------------------
    def run(self, tasks: Iterable[TrackTask]) -> Iterator[TrackResult]:
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayError

        self._start()
        first = "gpu" if self.gpu_names else "cpu"
        groups = _groups(tasks, self.track_batch)
        waiting: dict[str, deque[_Call]] = defaultdict(deque)  # calls without an actor yet
        running: dict[Any, _Call] = {}
        exhausted = False
        try:
            while True:
                # refill the first stage only when it has a free actor and the CPU stage is not
                # falling behind (backpressure: bounded tasks and rows in flight)
                backlog_ok = len(waiting["cpu"]) <= len(self.actors["cpu"])  # CPU stage keeps up
                while (
                    not exhausted
                    and (first == "cpu" or backlog_ok)
                    and len(waiting[first]) < len(self._idle[first])
                ):
                    group = next(groups, None)
                    if group is None:
                        exhausted = True
                        break
                    waiting[first].append(_Call(first, None, group, None, 0.0))
                for stage in ("gpu", "cpu"):
                    while waiting[stage] and self._idle[stage]:
                        self._submit(waiting[stage].popleft(), running)
                if not running and not self._recovering:
                    if exhausted and not any(waiting.values()):
                        return
                    continue
                timeout = self._next_deadline(running)
                pending = [*running, *self._recovering]
                ready, _ = ray.wait(pending, num_returns=1, timeout=timeout)
                if not ready:
                    yield from self._expire(running)
                    continue
                if ready[0] in self._recovering:
                    self._check_recovered(ready[0])
                    continue
                call = running.pop(ready[0])
                try:
                    results = ray.get(call.ref)
                except (RayActorError, GetTimeoutError, RayError) as e:
                    self.stages[call.stage].restarts += 1
                    self._recover(call.actor, call.stage)
                    if call.attempt < self.settings.retries:
                        waiting[call.stage].appendleft(
                            replace(call, attempt=call.attempt + 1, actor=None, ref=None)
                        )
                    else:
                        why = f"worker lost {call.attempt + 1} times ({type(e).__name__})"
                        yield from (failed_result(t, self._unset, why) for t in call.group)
                    continue
                self._idle[call.stage].append(call.actor)
                self.stages[call.stage].tracks += len(call.group)
                if call.stage == "gpu" and self.cpu_names:
                    cpu_call, complete = self._cpu_call(call.group, results)
                    if cpu_call is not None:
                        waiting["cpu"].append(cpu_call)
                    yield from complete
                elif call.stage == "cpu" and call.gpu_results is not None:
                    yield from _merge(call.gpu_results, results)
                else:
                    yield from results
        finally:
            # interrupted (Ctrl-C) or failed: calls still running are abandoned with their actors
            self._stop(collect_stats=not running)

    def _recover(self, actor: Any, stage: str) -> None:
        """An actor that died (or was killed): Ray restarts it; it takes calls again once it
        answers a ping, so retries do not land on it while it is still coming back."""
        self._recovering[actor.pid.remote()] = (actor, stage, time.monotonic())

    def _check_recovered(self, ping: Any) -> None:
        import ray
        from ray.exceptions import RayActorError

        actor, stage, since = self._recovering.pop(ping)
        try:
            ray.get(ping)
        except RayActorError:
            if time.monotonic() - since > RECOVERY_TIMEOUT_S:
                return  # gone for good: the stage goes on with its other actors
            time.sleep(0.2)  # still restarting
            self._recovering[actor.pid.remote()] = (actor, stage, since)
            return
        self._idle[stage].append(actor)

    def _submit(self, call: _Call, running: dict[Any, _Call]) -> None:
        actor = self._idle[call.stage].popleft()
        call.actor, call.started = actor, time.monotonic()
        call.ref = actor.run.remote(call.group)
        running[call.ref] = call

    def _next_deadline(self, running: dict[Any, _Call]) -> float | None:
        if not self.timeout_s or not running:  # nothing running: wait for a restarted actor
            return None
        now = time.monotonic()
        left = [c.started + self.timeout_s * len(c.group) - now for c in running.values()]
        return max(0.0, min(left))

    def _expire(self, running: dict[Any, _Call]) -> Iterator[TrackResult]:
        import ray

        now = time.monotonic()
        assert self.timeout_s is not None
        for ref, call in list(running.items()):
            limit = self.timeout_s * len(call.group)
            if now - call.started < limit:
                continue
            running.pop(ref)
            ray.kill(call.actor, no_restart=False)  # restarted by Ray, models loaded again
            self._recover(call.actor, call.stage)
            self.stages[call.stage].restarts += 1
            n = len(call.group)
            why = f"timed out after {self.timeout_s:g} s" + (f" x {n} tracks" if n > 1 else "")
            yield from (failed_result(t, self._unset, f"{why} (build.track_timeout_s)") for t in call.group)  # fmt: skip

    # -- the hand-over from the GPU stage to the CPU stage ------------------------------
    def _cpu_call(
        self, group: list[TrackTask], results: list[TrackResult]
    ) -> tuple[_Call | None, list[TrackResult]]:
        """The CPU-stage call for the tracks of a finished GPU call that still have CPU
        extractors to run, and the results of those that are already complete."""
        tasks, gpu_results, complete = [], [], []
        for task, res in zip(group, results, strict=True):
            prev = task.previous
            changed = prev is None or res.row.get("file_hash") != prev.get("file_hash")
            run = [n for n in (task.run if changed else task.stale) if n in self.cpu_names]
            if res.error or not run:
                complete.append(res)
                continue
            previous = ({} if changed else dict(prev or {})) | res.row
            # stems the GPU stage separated serve the CPU stage's stem features
            stems = dict(
                zip(res.row.get("stems") or [], res.row.get("stem_paths") or [], strict=True)
            )
            tasks.append(
                replace(task, run=run, stale=run, previous=previous, stems=stems or task.stems)
            )
            gpu_results.append(res)
        call = _Call("cpu", None, tasks, None, 0.0, gpu_results=gpu_results) if tasks else None
        return call, complete


def _merge(gpu: list[TrackResult], cpu: list[TrackResult]) -> Iterator[TrackResult]:
    """One result per track: the GPU stage's columns overlaid with the CPU stage's."""
    for g, c in zip(gpu, cpu, strict=True):
        timings = dict(g.timings)
        for k, v in c.timings.items():
            timings[k] = timings.get(k, 0.0) + v
        yield TrackResult(
            relative_path=c.relative_path,
            row=g.row | c.row,
            ran=[*g.ran, *c.ran],
            error=c.error or g.error,
            audio_s=c.audio_s or g.audio_s,
            timings=timings,
        )
