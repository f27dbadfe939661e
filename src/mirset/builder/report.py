"""Progress bar and end-of-build summary."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text


class AudioRateColumn(ProgressColumn):
    """Hours of audio done and the speed as a multiple of real time."""

    def render(self, task: Task) -> Text:
        audio_s = task.fields.get("audio_s", 0.0)
        elapsed = task.elapsed or 0.0
        speed = audio_s / elapsed if elapsed > 0 else 0.0
        return Text(f"{audio_s / 3600:.2f} h audio · {speed:.1f}× RT", style="cyan")


def make_progress(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        AudioRateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )


@dataclass
class BuildSummary:
    """Counts, timings and failures of one build."""

    discovered: int = 0
    planned: int = 0
    ok: int = 0
    failed: int = 0
    up_to_date: int = 0
    failed_skipped: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    step_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped_failures: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    table_version: int | None = None
    table_path: str = ""
    stages: dict[str, dict] = field(default_factory=dict)  # Ray: per-stage actors and throughput
    interrupted: bool = False

    @property
    def skipped(self) -> int:
        return self.up_to_date + self.failed_skipped

    @property
    def realtime_factor(self) -> float:
        return self.audio_s / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "discovered": self.discovered,
            "processed": self.planned,
            "ok": self.ok,
            "failed": self.failed,
            "skipped_up_to_date": self.up_to_date,
            "skipped_failed": self.failed_skipped,
            "audio_hours": self.audio_s / 3600,
            "wall_s": self.wall_s,
            "realtime_factor": self.realtime_factor,
            "step_seconds": dict(self.step_s),
            "failures": self.failures,
            "table_version": self.table_version,
            "stages": self.stages,
            "interrupted": self.interrupted,
        }


def print_summary(console: Console, s: BuildSummary) -> None:
    """The end-of-build report: counts, time per step, failures with reasons."""
    counts = Table(title="mirset build", show_header=False, box=None)
    counts.add_row("tracks found", str(s.discovered))
    counts.add_row("[green]ok", str(s.ok))
    counts.add_row("[red]failed", str(s.failed))
    counts.add_row("skipped (up to date)", str(s.up_to_date))
    counts.add_row("skipped (failed before; --retry-failed to retry)", str(s.failed_skipped))
    counts.add_row(
        "audio processed",
        f"{s.audio_s / 3600:.3f} h in {s.wall_s:.1f} s = {s.realtime_factor:.1f}× real time",
    )
    counts.add_row("table", f"{s.table_path} (version {s.table_version})")
    console.print(counts)
    if s.step_s:
        steps = Table(title="time per step (summed over workers)")
        steps.add_column("step")
        steps.add_column("seconds", justify="right")
        steps.add_column("× real time", justify="right")
        for name, sec in sorted(s.step_s.items(), key=lambda kv: -kv[1]):
            steps.add_row(name, f"{sec:.2f}", f"{s.audio_s / sec:.0f}" if sec > 0 else "-")
        console.print(steps)
    if s.stages:
        stages = Table(title="Ray stages")
        for col in (
            "stage",
            "actors",
            "GPUs each",
            "tracks",
            "busy s",
            "tracks/s/actor",
            "restarts",
            "GPU util %",
        ):
            stages.add_column(col, justify="right")
        for name, st in s.stages.items():
            if not st["actors"]:
                continue
            rate = st["tracks"] / st["busy_s"] if st["busy_s"] else 0.0
            stages.add_row(
                name, str(st["actors"]), f"{st['num_gpus']:g}", str(st["tracks"]),
                f"{st['busy_s']:.1f}", f"{rate:.2f}", str(st["restarts"]),
                "-" if st.get("gpu_util_pct") is None else f"{st['gpu_util_pct']:.0f}",
            )  # fmt: skip
        console.print(stages)
    if s.interrupted:
        console.print(
            "[yellow]interrupted:[/] every finished track is committed; run again to go on"
        )
    for name, reason in s.unavailable.items():
        console.print(f"[yellow]unavailable[/] {name}: {reason}")
    if s.ignored:
        console.print(
            f"[yellow]{len(s.ignored)} audio file(s) in organised folders ignored "
            "(neither full_mix nor a stem)"
        )
    for title, items in (("failed", s.failures), ("skipped, failed earlier", s.skipped_failures)):
        if items:
            console.print(f"[red]{title}:")
            for path, reason in items[:50]:
                console.print(f"  {path!r}: {reason}", markup=False, highlight=False)
            if len(items) > 50:
                console.print(f"  … and {len(items) - 50} more (mirset status shows all)")
