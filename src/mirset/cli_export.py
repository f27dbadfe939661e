"""``mirset export hf|sat|wds``, ``mirset push`` and ``mirset tag``: hand a dataset version on.

Registered on the ``mirset`` group at the end of ``mirset.cli``. Exit status: 0 done, 2 bad
command line, 3 the export / push / tag could not be made (the message says why).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_FATAL = 3

version_option = click.option(
    "--version",
    "version",
    help="table version number or tag name (default: the latest version).",
)
music_dir_option = click.option(
    "--music-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="where the audio is now (default: where it was when the table was built).",
)
failed_option = click.option(
    "--include-failed", is_flag=True, help="also export tracks whose analysis failed."
)
features_option = click.option(
    "-f",
    "--features",
    default="",
    help="comma-separated numeric features to condition on, e.g. bpm,lufs "
    "(tracks without a value are left out and listed).",
)
prompts_option = click.option(
    "--prompt-sources",
    default=None,
    help="comma-separated prompt sources (default: prompt, prompt_variants, "
    "music_flamingo_genre_mood, _technical, _instrumentation, genre_mood+prompt).",
)


def _size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not m:
        raise click.BadParameter(f"{text!r}: a size such as 500MB or 2GB")
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}[m.group(2)]
    return int(float(m.group(1)) * scale)


def _list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _fail(console: Console, error: Exception) -> None:
    console.print(f"[red]error:[/] {escape(str(error))}")
    sys.exit(EXIT_FATAL)


def _expected_errors() -> tuple[type[Exception], ...]:
    from mirset.export.hf import ExportError
    from mirset.export.push import PushError
    from mirset.export.sat import SatExportError
    from mirset.export.tableinfo import AudioMissingError
    from mirset.export.versions import VersionError

    return (
        ExportError,
        PushError,
        SatExportError,
        AudioMissingError,
        VersionError,
        FileNotFoundError,
    )


@click.group()
def export() -> None:
    """Export a dataset version: Hugging Face repo, Stable Audio Tools, WebDataset."""


@export.command("hf")
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("hf_dir", type=click.Path(file_okay=False, path_type=Path))
@version_option
@click.option("--with-audio", is_flag=True, help="embed the audio (datasets Audio column).")
@click.option("--with-stems", is_flag=True, help="embed the stems (one Audio column per stem).")
@music_dir_option
@failed_option
@click.option("--max-shard-size", default="500MB", show_default=True, help="largest Parquet shard.")
@click.option("--license", "license_", help="licence id for the card (e.g. cc-by-4.0).")
@click.option("--name", "pretty_name", help="dataset name shown on the card.")
def export_hf_cmd(
    out_dir: Path,
    hf_dir: Path,
    version: str | None,
    with_audio: bool,
    with_stems: bool,
    music_dir: Path | None,
    include_failed: bool,
    max_shard_size: str,
    license_: str | None,
    pretty_name: str | None,
) -> None:
    """Write HF_DIR as a Hugging Face dataset repo (Parquet shards, card, plots) from OUT_DIR."""
    from mirset.export.hf import export_hf

    console = Console(stderr=True)
    try:
        result = export_hf(
            out_dir,
            hf_dir,
            version,
            with_audio=with_audio,
            with_stems=with_stems,
            music_dir=music_dir,
            include_failed=include_failed,
            max_shard_bytes=_size(max_shard_size),
            license=license_,
            pretty_name=pretty_name,
            log=lambda m: console.print(escape(m)),
        )
    except _expected_errors() as e:
        _fail(console, e)
    v = result.version
    console.print(
        f"[green]exported[/] table version {v.version} ({escape(v.label)}): {result.rows} tracks "
        f"in {len(result.shards)} shard(s), {len(result.plots)} plots -> {escape(str(hf_dir))}"
        + (f"; {result.excluded_failed} failed tracks left out" if result.excluded_failed else "")
    )


def _sat_options(f):  # type: ignore[no-untyped-def]
    """The options `export sat` and `export wds` share."""
    for opt in (
        click.option("--cond-dim", default=768, show_default=True, help="conditioning width."),
        click.option("--max-length", default=128, show_default=True, help="T5 prompt tokens."),
        click.option("--t5-model", default="t5-base", show_default=True),
        click.option("--id", "dataset_id", default="mirset", show_default=True),
        failed_option,
        music_dir_option,
        prompts_option,
        features_option,
        version_option,
    ):
        f = opt(f)
    return f


def _report_left_out(console: Console, left_out: dict[str, str]) -> None:
    if left_out:
        console.print(f"[yellow]{len(left_out)} track(s) left out:[/]")
        for path, why in left_out.items():
            console.print(f"  {path}: {why}", markup=False, highlight=False)


@export.command("sat")
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("sat_dir", type=click.Path(file_okay=False, path_type=Path))
@_sat_options
@click.option("--copy-audio", is_flag=True, help="copy the audio instead of symlinking it.")
def export_sat_cmd(
    out_dir: Path,
    sat_dir: Path,
    version: str | None,
    features: str,
    prompt_sources: str | None,
    music_dir: Path | None,
    include_failed: bool,
    dataset_id: str,
    t5_model: str,
    max_length: int,
    cond_dim: int,
    copy_audio: bool,
) -> None:
    """Write SAT_DIR for Stable Audio Tools: dataset config, metadata module, conditioning."""
    from mirset.export.prompts import DEFAULT_PROMPT_SOURCES
    from mirset.export.sat import export_sat

    console = Console(stderr=True)
    try:
        result = export_sat(
            out_dir,
            sat_dir,
            version,
            features=_list(features),
            prompt_sources=_list(prompt_sources) or DEFAULT_PROMPT_SOURCES,
            music_dir=music_dir,
            copy_audio=copy_audio,
            include_failed=include_failed,
            dataset_id=dataset_id,
            t5_model=t5_model,
            max_length=max_length,
            cond_dim=cond_dim,
        )
    except _expected_errors() as e:
        _fail(console, e)
    _report_left_out(console, result.left_out)
    console.print(
        f"[green]exported[/] {result.tracks} tracks for Stable Audio Tools "
        f"({len(result.transcoded)} transcoded to FLAC; number conditioners: "
        f"{', '.join(result.features) or 'none'}) -> {escape(str(sat_dir))}\n"
        f"  dataset config: {escape(str(Path(sat_dir) / 'dataset_config.json'))}\n"
        f"  merge into the model config: "
        f"{escape(str(Path(sat_dir) / 'model_conditioning.json'))}"
    )


@export.command("wds")
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("wds_dir", type=click.Path(file_okay=False, path_type=Path))
@_sat_options
@click.option("--shard-size", default="500MB", show_default=True, help="largest tar shard.")
def export_wds_cmd(
    out_dir: Path,
    wds_dir: Path,
    version: str | None,
    features: str,
    prompt_sources: str | None,
    music_dir: Path | None,
    include_failed: bool,
    dataset_id: str,
    t5_model: str,
    max_length: int,
    cond_dim: int,
    shard_size: str,
) -> None:
    """Write WebDataset tar shards (audio + json per track) into WDS_DIR."""
    from mirset.export.prompts import DEFAULT_PROMPT_SOURCES
    from mirset.export.wds import export_wds

    console = Console(stderr=True)
    try:
        result = export_wds(
            out_dir,
            wds_dir,
            version,
            features=_list(features),
            prompt_sources=_list(prompt_sources) or DEFAULT_PROMPT_SOURCES,
            music_dir=music_dir,
            include_failed=include_failed,
            shard_bytes=_size(shard_size),
            dataset_id=dataset_id,
            t5_model=t5_model,
            max_length=max_length,
            cond_dim=cond_dim,
        )
    except _expected_errors() as e:
        _fail(console, e)
    _report_left_out(console, result.left_out)
    console.print(
        f"[green]exported[/] {result.samples} samples in {len(result.shards)} shard(s) "
        f"-> {escape(str(wds_dir))}"
    )


@click.command()
@click.argument("hf_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("repo_id")
@click.option("--private", is_flag=True, help="create the repo private.")
@click.option("--tag", help="Hub tag for this version (default: the exported version's tag/vN).")
@click.option("--dry-run", is_flag=True, help="list what would be uploaded; no network.")
def push(hf_dir: Path, repo_id: str, private: bool, tag: str | None, dry_run: bool) -> None:
    """Upload HF_DIR (from `mirset export hf`) to the Hub as REPO_ID and tag the version."""
    from mirset.export.push import plan_push
    from mirset.export.push import push as do_push

    console = Console(stderr=True)
    try:
        plan = plan_push(hf_dir, repo_id, private=private, tag=tag)
    except _expected_errors() as e:
        _fail(console, e)
    if dry_run:
        for line in plan.describe():
            click.echo(line)
        return
    try:
        revision = do_push(plan, log=lambda m: console.print(escape(m)))
    except _expected_errors() as e:
        _fail(console, e)
    except Exception as e:  # the Hub's own errors (HTTP, auth): say which step failed
        console.print(f"[red]push failed:[/] {type(e).__name__}: {escape(str(e))}")
        sys.exit(EXIT_FATAL)
    console.print(
        f"[green]pushed[/] {escape(repo_id)} at {revision}, tag {escape(plan.tag)}: "
        f"https://huggingface.co/datasets/{escape(repo_id)}/tree/{escape(plan.tag)}"
    )


@click.command()
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name", required=False)
@click.option("--version", "version", help="table version to name (default: the latest).")
@click.option("--force", is_flag=True, help="move an existing tag to this version.")
@click.option("--delete", is_flag=True, help="remove the tag NAME.")
def tag(out_dir: Path, name: str | None, version: str | None, force: bool, delete: bool) -> None:
    """Name a table version NAME (e.g. v1); without NAME, list versions and tags."""
    from mirset.export.versions import delete_tag, history, read_tags, tag_version

    console = Console(stderr=True)
    try:
        if name is None:
            tags = read_tags(out_dir)
            by_version: dict[int, list[str]] = {}
            for n, t in tags.items():
                by_version.setdefault(int(t["version"]), []).append(n)
            for v, h in history(out_dir).items():
                names = ", ".join(sorted(by_version.get(v, [])))
                click.echo(f"{v}\t{h.get('operation', '')}\t{names}")
            return
        if delete:
            delete_tag(out_dir, name)
            console.print(f"deleted tag {escape(name)}")
            return
        tv = tag_version(out_dir, name, version, force=force)
    except _expected_errors() as e:
        _fail(console, e)
    console.print(f"[green]{escape(name)}[/] -> table version {tv.version} ({tv.timestamp})")
