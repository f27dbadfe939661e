"""The workflow commands around a build: ``mirset organize`` and ``mirset crops``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_FATAL = 3


@click.command()
@click.argument("in_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="print what would be copied; write nothing.")
@click.option(
    "--sidecars-from",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="a build's OUT_DIR whose tracks/ sidecars and stems/ of these flat files come along.",
)
@click.option("--no-tags", is_flag=True, help="do not read tags (track numbers, VA names).")
@click.option("--json-report", type=click.Path(path_type=Path), help="also write the report.")
@click.option("-v", "--verbose", is_flag=True, help="list every copy.")
def organize(
    in_dir: Path,
    out_dir: Path,
    dry_run: bool,
    sidecars_from: Path | None,
    no_tags: bool,
    json_report: Path | None,
    verbose: bool,
) -> None:
    """Copy the audio in IN_DIR into OUT_DIR/<Folder>/full_mix.<ext>, with stems and sidecars.

    IN_DIR is only read. Names follow the old organiser's rules (track numbers stripped, names
    cleaned); two sources that want one name both survive (the second as "Name (2)"), byte
    duplicates are skipped, and every report line says which. Exit: 0 ok, 1 some copies
    failed, 2 usage, 3 IN_DIR missing.
    """
    from mirset.metadata.tags import read_tags
    from mirset.organize import organize as run_organize

    console = Console(stderr=True, soft_wrap=True)
    try:
        plan = run_organize(in_dir, out_dir, dry_run, sidecars_from, None if no_tags else read_tags)
    except FileNotFoundError as e:
        console.print(f"[red]error:[/] {escape(str(e))}")
        sys.exit(EXIT_FATAL)
    except ValueError as e:
        console.print(f"[red]error:[/] {escape(str(e))}")
        sys.exit(EXIT_USAGE)
    verb = "would copy" if dry_run else "copied"
    for a in plan.actions:
        if a.kind == "copy" and (verbose or dry_run or a.renamed):
            extra = f"  ({len(a.files) - 1} stem/sidecar files)" if len(a.files) > 1 else ""
            console.print(f"{verb}: {a.source} -> {a.dest}{extra}", markup=False, highlight=False)
        if a.kind == "copy" and a.renamed:
            console.print(
                f"  renamed: {a.wanted_name!r} is taken by another track, so {a.folder!r}",
                markup=False,
                highlight=False,
            )
        elif a.kind == "duplicate":
            console.print(
                f"duplicate (skipped): {a.source} has the same bytes as {a.duplicate_of}",
                markup=False,
                highlight=False,
            )
        elif a.kind == "already" and verbose:
            console.print(f"already organised: {a.source} -> {a.dest}", markup=False)
        elif a.kind == "skipped":
            console.print(f"skipped: {a.source}: {a.note}", markup=False, highlight=False)
    for path, reason in plan.errors:
        console.print(f"[red]error:[/] {escape(path)}: {escape(reason)}")
    c = plan.counts()
    console.print(
        f"{verb} {c.get('copy', 0)} track(s) with {c.get('sidecars', 0)} stem/sidecar file(s); "
        f"{c.get('renamed', 0)} under a unique name; {c.get('duplicate', 0)} duplicate(s) "
        f"skipped; {c.get('already', 0)} already organised; {c.get('skipped', 0)} skipped; "
        f"{c.get('errors', 0)} error(s)",
        markup=False,
        highlight=False,
    )
    if json_report:
        json_report.write_text(json.dumps(plan.to_dict(), indent=2, ensure_ascii=False))
    sys.exit(EXIT_SOME_FAILED if plan.errors else EXIT_OK)


def with_lookup(extractors: list[str] | None) -> list[str]:
    """``mirset build --lookup``: the extractors asked for (every default one when none were
    named) plus the opt-in ``metadata_lookup``."""
    from mirset.extractors.base import registry

    names = list(extractors) if extractors else [n for n, c in registry().items() if c.default]
    return [*names, "metadata_lookup"] if "metadata_lookup" not in names else names


@click.command()
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.argument("crops_dir", type=click.Path(path_type=Path))
@click.option(
    "--length",
    type=click.IntRange(min=1),
    default=2097152,
    show_default=True,
    help="crop length in samples (at each track's own rate); beat-aligned crops may be shorter.",
)
@click.option("--beat-aligned", is_flag=True, help="start on downbeats, end on downbeats.")
@click.option(
    "--bars-multiple",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help="beat-aligned crops span a multiple of this many bars (0: any number).",
)
@click.option("--overlap", is_flag=True, help="the next crop starts half a length later.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["flac", "wav", "source"]),
    default="flac",
    show_default=True,
    help="crop files (source: keep a lossless source's container; lossy sources give FLAC).",
)
@click.option(
    "--bit-depth",
    type=click.Choice(["source", "16", "24"]),
    default="source",
    show_default=True,
    help="PCM bit depth (source: the source's; 16 for lossy sources).",
)
@click.option(
    "-e",
    "--extractors",
    help="extractors for the crops table (default: every default one; Demucs separation only "
    "when named: crops get the track's stems cut).",
)
@click.option("-x", "--exclude", help="extractors not to run on the crops.")
@click.option("-j", "--workers", type=int, help="worker processes for the crops build.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, path_type=Path),
    help="YAML config for the crops build.",
)
@click.option(
    "--models-dir", type=click.Path(path_type=Path), help="model weights folder for the build."
)
@click.option("--no-build", is_flag=True, help="write the crops only; no crops table.")
@click.option("--no-progress", is_flag=True, help="no progress bar.")
def crops(
    out_dir: Path,
    crops_dir: Path,
    length: int,
    beat_aligned: bool,
    bars_multiple: int,
    overlap: bool,
    fmt: str,
    bit_depth: str,
    extractors: str | None,
    exclude: str | None,
    workers: int | None,
    config_file: Path | None,
    models_dir: Path | None,
    no_build: bool,
    no_progress: bool,
) -> None:
    """Cut training crops of the tracks built in OUT_DIR into CROPS_DIR, then build their table.

    Crops: CROPS_DIR/<folder>/<Folder>_<N>.<ext>, stems <Folder>_<N>_<stem>.<ext> (same
    samples), <Folder>_<N>.INFO with the provenance; the crops table (CROPS_DIR/table) holds
    each crop's own features. Exit: 0 ok, 1 some tracks or crops failed, 2 usage, 3 no table.
    """
    from pydantic import ValidationError

    from mirset.builder.build import BuildError, build
    from mirset.config import load_config
    from mirset.crops import CropSettings, crop_track, music_dir_of, prune_missing, read_tracks
    from mirset.extractors.base import registry

    console = Console(stderr=True, soft_wrap=True)
    try:
        rows = read_tracks(out_dir)
    except FileNotFoundError as e:
        console.print(f"[red]error:[/] {escape(str(e))}")
        sys.exit(EXIT_FATAL)
    crops_dir = crops_dir.absolute()
    if crops_dir == out_dir.absolute():
        console.print("[red]error:[/] CROPS_DIR must differ from OUT_DIR")
        sys.exit(EXIT_USAGE)
    settings = CropSettings(length, beat_aligned, bars_multiple, overlap, fmt, bit_depth)
    names = (
        extractors.split(",")
        if extractors
        else [n for n, c in registry().items() if c.default and n != "stems"]
    )
    excluded = exclude.split(",") if exclude else []
    if "stems" not in names:  # crops get their stems cut from the track's, never separated
        excluded.append("stems")
    overrides = {
        "build.sidecars": "beside",
        "build.extractors": [*names, "crop"] if "crop" not in names else names,
        "build.exclude": excluded,
        "build.workers": workers,
        "build.models_dir": str(models_dir) if models_dir else None,
    }
    try:
        config = load_config(config_file, overrides)
    except (ValidationError, ValueError) as e:
        console.print(f"[red]invalid config:[/] {escape(str(e))}")
        sys.exit(EXIT_USAGE)
    failed = 0
    n_crops = 0
    for row in rows:
        try:
            res = crop_track(row, music_dir_of(row), crops_dir, settings)
        except Exception as e:  # one bad track never stops the others
            failed += 1
            console.print(
                f"failed: {row['relative_path']}: {type(e).__name__}: {e}",
                markup=False,
                highlight=False,
            )
            continue
        n_crops += len(res.crops)
        line = f"{res.state}: {row['relative_path']} -> {res.folder} ({len(res.crops)} crops)"
        console.print(line + (f"; {res.note}" if res.note else ""), markup=False, highlight=False)
    console.print(f"{n_crops} crops of {len(rows)} tracks in {crops_dir}", markup=False)
    if not no_build:
        try:
            summary = build(crops_dir, crops_dir, config, console, progress=not no_progress)
        except KeyError as e:
            console.print(f"[red]error:[/] {escape(str(e.args[0]))}")
            sys.exit(EXIT_USAGE)
        except BuildError as e:
            console.print(f"[red]error:[/] {escape(str(e))}")
            sys.exit(EXIT_FATAL)
        pruned = prune_missing(crops_dir)
        if pruned:
            console.print(f"{pruned} rows of replaced crops removed from the crops table")
        failed += summary.failed
    sys.exit(EXIT_SOME_FAILED if failed else EXIT_OK)
