"""The ``mirset`` command."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mirset import __version__

EXIT_OK = 0
EXIT_TRACKS_FAILED = 1  # the build finished, but some tracks failed (see the summary)
EXIT_USAGE = 2  # bad command line or config (click's own code)
EXIT_FATAL = 3  # the build could not run (music folder missing, table unwritable, locked)
EXIT_INTERRUPTED = 130  # Ctrl-C: what finished is committed
SCHEMA_COLUMNS = (
    "column",
    "type",
    "unit",
    "range",
    "extractor",
    "version",
    "info_key",
    "description",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mirset")
def main() -> None:
    """mirset: a versioned feature dataset from a music collection."""


@main.command()
@click.argument("music_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, path_type=Path),
    help="YAML config file (see mirset.config).",
)
@click.option("-j", "--workers", type=int, help="worker processes (0 = in-process).")
@click.option("-e", "--extractors", help="comma-separated extractors to run (default: all).")
@click.option("-x", "--exclude", help="comma-separated extractors not to run (e.g. stems).")
@click.option("--retry-failed", is_flag=True, default=None, help="retry tracks that failed before.")
@click.option("--batch-size", type=int, help="tracks per table commit.")
@click.option("--timeout", "timeout", type=float, help="per-track time limit in seconds.")
@click.option(
    "--sidecars",
    type=click.Choice(["auto", "beside", "out", "none"]),
    help="where .INFO/.BEATS_GRID/.ONSETS go (auto: beside organised tracks, "
    "OUT_DIR/tracks/ for flat files).",
)
@click.option(
    "--stems",
    "stems_policy",
    type=click.Choice(["auto", "out"]),
    help="where separated stems go (auto: beside organised tracks, OUT_DIR/stems/ for flat files).",
)
@click.option(
    "--models-dir",
    type=click.Path(path_type=Path),
    help="model weights folder (default: $MIRSET_MODELS or ~/.cache/mirset/models).",
)
@click.option(
    "--track-batch",
    type=int,
    help="tracks per worker call, so GPU models batch across tracks (0 = auto).",
)
@click.option(
    "--lookup",
    is_flag=True,
    help="also look tracks up online (Spotify, MusicBrainz): the opt-in metadata_lookup extractor.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    help="local worker processes (default) or Ray actors (starts Ray here unless an address).",
)
@click.option("--ray-address", help="Ray cluster to join (default: $RAY_ADDRESS, else local).")
@click.option("--no-progress", is_flag=True, help="no progress bar.")
@click.option(
    "--json-summary", type=click.Path(path_type=Path), help="also write the summary as JSON."
)
def build(
    music_dir: Path,
    out_dir: Path,
    config_file: Path | None,
    workers: int | None,
    extractors: str | None,
    exclude: str | None,
    retry_failed: bool | None,
    batch_size: int | None,
    timeout: float | None,
    sidecars: str | None,
    stems_policy: str | None,
    models_dir: Path | None,
    track_batch: int | None,
    lookup: bool,
    executor: str | None,
    ray_address: str | None,
    no_progress: bool,
    json_summary: Path | None,
) -> None:
    """Analyse the audio in MUSIC_DIR into a versioned table in OUT_DIR.

    Exit status: 0 all tracks ok; 1 some tracks failed; 2 usage error; 3 the build could not
    run; 130 interrupted (Ctrl-C: every finished track is committed).
    """
    from pydantic import ValidationError

    from mirset.builder.build import BuildError
    from mirset.builder.build import build as run_build
    from mirset.config import load_config

    console = Console(stderr=True)
    overrides = {
        "build.workers": workers,
        "build.extractors": extractors.split(",") if extractors else None,
        "build.exclude": exclude.split(",") if exclude else None,
        "build.retry_failed": retry_failed,
        "build.batch_size": batch_size,
        "build.track_timeout_s": timeout,
        "build.sidecars": sidecars,
        "build.stems": stems_policy,
        "build.models_dir": str(models_dir) if models_dir else None,
        "build.track_batch": track_batch,
        "build.executor": executor,
        "build.ray_address": ray_address,
    }
    if lookup:
        from mirset.cli_workflow import with_lookup

        overrides["build.extractors"] = with_lookup(overrides["build.extractors"])
    try:
        config = load_config(config_file, overrides)
    except (ValidationError, ValueError) as e:
        console.print(f"[red]invalid config:[/] {escape(str(e))}")
        sys.exit(EXIT_USAGE)
    try:
        summary = run_build(music_dir, out_dir, config, console, progress=not no_progress)
    except KeyError as e:
        console.print(f"[red]error:[/] {escape(str(e.args[0]))}")
        sys.exit(EXIT_USAGE)
    except BuildError as e:
        console.print(f"[red]error:[/] {escape(str(e))}")
        sys.exit(EXIT_FATAL)
    if json_summary:
        json_summary.write_text(json.dumps(summary.to_dict(), indent=2, default=str))
    if summary.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_TRACKS_FAILED if summary.failed else EXIT_OK)


@main.command()
@click.option("-e", "--extractors", help="comma-separated extractors (default: all).")
@click.option("--json", "as_json", is_flag=True, help="print the fields as JSON.")
def schema(extractors: str | None, as_json: bool) -> None:
    """Print every column: type, unit, range, extractor and version, .INFO key, description."""
    from mirset.extractors.base import resolve
    from mirset.schemas.table import table_schema

    arrow = table_schema(resolve(extractors.split(",") if extractors else None))
    rows = []
    for f in arrow:
        meta = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        rows.append({"column": f.name, "type": str(f.type), **meta})
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"mirset {__version__} schema ({len(rows)} columns)")
    for col in SCHEMA_COLUMNS:
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*(r.get(c, "") for c in SCHEMA_COLUMNS))
    Console(width=max(160, Console().width)).print(table)


@main.command()
@click.argument("out_dir", type=click.Path(exists=True, path_type=Path))
@click.option("--failures/--no-failures", default=True, help="list failed tracks with reasons.")
def status(out_dir: Path, failures: bool) -> None:
    """Show table versions, track counts, failures with reasons and extractor versions."""
    from mirset.builder.build import table_path
    from mirset.export.store import TrackStore

    console = Console()
    store = TrackStore(table_path(out_dir))
    dt = store.table()
    if dt is None:
        console.print(f"[red]no mirset table in {escape(str(out_dir))}")
        sys.exit(EXIT_FATAL)
    hist = Table(title=f"table versions ({store.path})")
    for col in ("version", "time (UTC)", "operation", "rows written"):
        hist.add_column(col)
    for h in reversed(dt.history()):
        metrics = h.get("operationMetrics") or {}
        written = metrics.get("num_added_rows", metrics.get("num_target_rows_inserted", ""))
        ts = h.get("timestamp")
        when = ""
        if ts:
            from datetime import UTC, datetime

            when = datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        hist.add_row(str(h.get("version")), when, str(h.get("operation")), str(written))
    console.print(hist)

    names = store.arrow_schema().names
    ext_names = sorted(
        {n[: -len("_version")] for n in names if n.endswith("_version") and n != "mirset_version"}
    )
    cols = [
        "relative_path",
        "status",
        "duration_s",
        *[f"{e}_version" for e in ext_names],
        *[f"{e}_status" for e in ext_names],
    ]
    rows = store.read(cols).to_pylist()
    total_h = sum(r.get("duration_s") or 0 for r in rows) / 3600
    ok = sum(1 for r in rows if r["status"] == "ok")
    console.print(
        f"tracks: {len(rows)}  ok: {ok}  failed: {len(rows) - ok}  "
        f"audio: {total_h:.2f} h  (table version {store.version()})"
    )
    ext_table = Table(title="extractors")
    for col in ("extractor", "versions in rows", "ok", "failed", "unavailable", "not run"):
        ext_table.add_column(col)
    for e in ext_names:
        versions = Counter(str(r.get(f"{e}_version")) for r in rows)
        states = Counter((r.get(f"{e}_status") or "none").split(":")[0].split(";")[0] for r in rows)
        ext_table.add_row(
            e,
            ", ".join(f"{v} ({n})" for v, n in versions.items()),
            str(states.get("ok", 0)),
            str(states.get("failed", 0)),
            str(states.get("unavailable", 0)),
            str(states.get("none", 0)),
        )
    console.print(ext_table)
    bad = [r for r in rows if r["status"] != "ok"]
    if failures and bad:
        console.print("[red]failed tracks:")
        for r in bad:
            console.print(f"  {r['relative_path']!r}: {r['status']}", markup=False, highlight=False)
            for e in ext_names:
                st = r.get(f"{e}_status") or ""
                if st.startswith("failed") and st != r["status"]:
                    console.print(f"      {e}: {st}", markup=False, highlight=False)
    _exit_now(EXIT_OK)


def entry() -> None:
    """The ``mirset`` console command: run it, then leave without the interpreter's teardown.

    Native threads of pyarrow / Delta Lake readers have aborted the teardown ("terminate called
    without an active exception", SIGABRT) after complete runs (apache/arrow#34314): every
    command has finished its writes when it returns, so the process exits with its own status
    once logs are flushed and a Ray instance this process started is shut down.
    """
    import logging

    try:
        main.main(standalone_mode=True)
        code: int = EXIT_OK
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or EXIT_OK
        else:
            print(e.code, file=sys.stderr)
            code = 1
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
    logging.shutdown()
    _exit_now(code)


def _exit_now(code: int) -> None:
    """Exit without tearing the interpreter down: everything is printed and nothing is open,
    and a native library's thread (pyarrow / Delta Lake readers) once aborted the teardown
    under load ("terminate called without an active exception", SIGABRT) after a complete run."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# --------------------------------------------------------------------------- models
models_dir_option = click.option(
    "--models-dir",
    type=click.Path(path_type=Path),
    help="model weights folder (default: $MIRSET_MODELS or ~/.cache/mirset/models).",
)


@main.group()
def models() -> None:
    """The model store: list, fetch, verify and locate model weights."""


def _store(models_dir: Path | None):  # type: ignore[no-untyped-def]
    from mirset import models as model_store

    return model_store.use_store(models_dir)


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


@models.command("list")
@models_dir_option
@click.option("--json", "as_json", is_flag=True, help="print the registry as JSON.")
def models_list(models_dir: Path | None, as_json: bool) -> None:
    """Every model mirset can use, what uses it, its size, licence and whether it is here."""
    from dataclasses import asdict

    store = _store(models_dir)
    names = list(store.names())
    if as_json:
        out = [
            asdict(store.spec(n)) | {"present": store.present(n), "path": str(store.path(n))}
            for n in names
        ]
        click.echo(json.dumps(out, indent=2))
        return
    table = Table(title=f"models in {store.root} (--json for sources, files and checksums)")
    for col in ("model", "used by", "size", "here", "licence"):
        table.add_column(col, overflow="fold")
    for n in names:
        spec = store.spec(n)
        here = "[green]yes[/]" if store.present(n) else "[yellow]no[/]"
        known, complete = spec.size
        size = _human(known) + ("" if complete else "+") if known else "?"
        table.add_row(n, ", ".join(spec.used_by), size, here, spec.license)
    Console(width=max(Console().width, 120)).print(table)


@models.command("fetch")
@click.argument("names", nargs=-1, required=True)
@models_dir_option
@click.option("--force", is_flag=True, help="download again even if present.")
def models_fetch(names: tuple[str, ...], models_dir: Path | None, force: bool) -> None:
    """Download NAMES into the model folder and verify them (needs internet)."""
    store = _store(models_dir)
    console = Console(stderr=True)
    failed = 0
    for name in names:
        try:
            written = store.fetch(name, force=force, log=lambda m: console.print(f"  {m}"))
        except KeyError as e:
            console.print(f"[red]error:[/] {escape(str(e.args[0]))}")
            sys.exit(EXIT_USAGE)
        except (OSError, RuntimeError) as e:
            console.print(f"[red]{escape(name)}: fetch failed:[/] {escape(str(e))}")
            failed += 1
            continue
        what = f"{len(written)} file(s) written" if written else "already present and verified"
        console.print(f"[green]{name}[/]: {what} in {store.path(name)}")
    sys.exit(EXIT_TRACKS_FAILED if failed else EXIT_OK)


@models.command("verify")
@click.argument("names", nargs=-1)
@models_dir_option
def models_verify(names: tuple[str, ...], models_dir: Path | None) -> None:
    """Check sizes and checksums of NAMES (default: every model that is at least partly here)."""
    store = _store(models_dir)
    wanted = list(names) or [
        n for n in store.names() if any(s.problem is None for s in store.check(n))
    ]
    bad = 0
    for name in wanted:
        try:
            states = store.check(name, full=True)
        except KeyError as e:
            click.echo(f"error: {e.args[0]}", err=True)
            sys.exit(EXIT_USAGE)
        problems = [s for s in states if s.problem]
        bad += bool(problems)
        if problems:
            for s in problems:
                click.echo(f"{name}: {s.path}: {s.problem}")
        else:
            click.echo(f"{name}: ok ({len(states)} files)")
    if not wanted:
        click.echo(f"no models in {store.root}")
    sys.exit(EXIT_TRACKS_FAILED if bad else EXIT_OK)


@models.command("path")
@click.argument("name")
@models_dir_option
def models_path(name: str, models_dir: Path | None) -> None:
    """Print the folder NAME is loaded from (exit 1 if it is not complete there)."""
    store = _store(models_dir)
    try:
        click.echo(store.path(name))
    except KeyError as e:
        click.echo(f"error: {e.args[0]}", err=True)
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_OK if store.present(name) else EXIT_TRACKS_FAILED)


from mirset.cli_workflow import crops, organize  # noqa: E402  (workflow commands)

main.add_command(organize)
main.add_command(crops)

from mirset.cli_export import export, push, tag  # noqa: E402  (export, push and tag commands)

for _command in (export, push, tag):
    main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    main()
