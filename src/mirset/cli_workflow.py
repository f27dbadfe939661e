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
