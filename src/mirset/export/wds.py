"""Export a table version as WebDataset tar shards (audio + json per track).

Layout::

    WDS_DIR/
      shard-000000.tar …          <key>.<ext> (the original file's bytes, or FLAC for formats
                                  Stable Audio Tools' decoder list lacks) + <key>.json
      manifest.json               shards with their sample counts, table version
      dataset_config.json         a Stable Audio Tools ``wds`` dataset config for the shards
      mirset_metadata.py / .json  the custom metadata module (random prompt per draw)
      model_conditioning.json     the model config's conditioning block

Keys are the tracks' content ids (``track_id``, hex: WebDataset splits a file name at its first
dot, so keys must not contain one), made unique with a suffix for duplicate audio. Each ``.json``
carries ``relative_path``, ``prompt`` (the first candidate), ``prompts`` (all of them), the chosen
features and ``mirset_key``; tar members are written in order with fixed owner and time, so the
same version gives the same shards.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mirset.export.prompts import DEFAULT_PROMPT_SOURCES
from mirset.export.sat import (
    METADATA_MODULE,
    SatExportError,
    TrackEntry,
    select,
    transcode_flac,
    write_configs,
    write_metadata,
)
from mirset.export.tableinfo import checked_bytes
from mirset.export.versions import TableVersion

# the audio keys Stable Audio Tools' WebDataset decoder accepts (stable_audio_tools.data.dataset)
WDS_AUDIO_EXTS = ("flac", "wav", "mp3", "m4a", "ogg", "opus")
DEFAULT_SHARD_BYTES = 500_000_000


@dataclass
class WdsExport:
    wds_dir: Path
    version: TableVersion
    shards: list[str]
    samples: int
    left_out: dict[str, str]


def _audio_member(t: TrackEntry) -> tuple[str, bytes]:
    ext = Path(t.relative_path).suffix.lower().lstrip(".")
    if ext in WDS_AUDIO_EXTS:
        return ext, checked_bytes(t.source, t.file_hash, t.relative_path)
    checked_bytes(t.source, t.file_hash, t.relative_path)
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "audio.flac"
        transcode_flac(t.source, dest)
        return "flac", dest.read_bytes()


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def export_wds(
    out_dir: Path,
    wds_dir: Path,
    version: int | str | None = None,
    *,
    features: Sequence[str] = (),
    prompt_sources: Sequence[str] = DEFAULT_PROMPT_SOURCES,
    music_dir: Path | None = None,
    include_failed: bool = False,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    dataset_id: str = "mirset",
    t5_model: str = "t5-base",
    max_length: int = 128,
    cond_dim: int = 768,
    log: Callable[[str], None] = lambda _m: None,
) -> WdsExport:
    """Write WebDataset shards of one table version into ``wds_dir``."""
    wds_dir = Path(wds_dir).absolute()
    sel = select(out_dir, version, features, prompt_sources, music_dir, include_failed)
    wds_dir.mkdir(parents=True, exist_ok=True)
    if list(wds_dir.glob("shard-*.tar")) and not (wds_dir / "manifest.json").is_file():
        raise SatExportError(
            f"{wds_dir} holds shard-*.tar files that `mirset export wds` did not write"
        )
    for old in wds_dir.glob("shard-*.tar"):
        old.unlink()
    mtime = (sel.version.timestamp_ms or 0) // 1000
    keyed: dict[str, TrackEntry] = {}
    shards: list[dict[str, object]] = []
    tar: tarfile.TarFile | None = None
    size = 0

    def close() -> None:
        nonlocal tar
        if tar is not None:
            tar.close()
            tmp = wds_dir / f".{shards[-1]['file']}.tmp"
            tmp.replace(wds_dir / str(shards[-1]["file"]))
            tar = None

    for t in sel.tracks:
        if not t.source.is_file():
            raise SatExportError(f"audio file not found: {t.source} (pass --music-dir?)")
        key = t.track_id or f"track{len(keyed):06d}"
        n = 1
        while key in keyed:
            key = f"{t.track_id}_{n}"
            n += 1
        t.key = key
        keyed[key] = t
        ext, audio = _audio_member(t)
        meta = {
            "mirset_key": key,
            "relative_path": t.relative_path,
            "prompt": t.prompts[0],
            "prompts": t.prompts,
            "duration_s": t.duration_s,
            **t.features,
        }
        blob = json.dumps(meta, ensure_ascii=False, sort_keys=True).encode()
        if tar is not None and size + len(audio) + len(blob) > shard_bytes:
            close()
        if tar is None:
            name = f"shard-{len(shards):06d}.tar"
            shards.append({"file": name, "samples": 0})
            tar = tarfile.open(  # noqa: SIM115 - closed and renamed into place by close()
                wds_dir / f".{name}.tmp", "w", format=tarfile.USTAR_FORMAT
            )
            size = 0
        _add(tar, f"{key}.{ext}", audio, mtime)
        _add(tar, f"{key}.json", blob, mtime)
        shards[-1]["samples"] = int(shards[-1]["samples"]) + 1  # type: ignore[call-overload]
        size += len(audio) + len(blob) + 2048
    close()

    write_metadata(wds_dir, sel, keyed, prompt_sources)
    dataset_config = {
        "dataset_type": "wds",
        "datasets": [
            {
                "id": dataset_id,
                "path": str(wds_dir),
                "custom_metadata_module": str(wds_dir / METADATA_MODULE),
            }
        ],
        "random_crop": True,
    }
    write_configs(wds_dir, sel, dataset_config, t5_model, max_length, cond_dim)
    manifest = {
        "table_version": sel.version.version,
        "tags": list(sel.version.tags),
        "samples": len(keyed),
        "shards": shards,
        "left_out": dict(sorted(sel.left_out.items())),
    }
    (wds_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"{len(keyed)} samples in {len(shards)} shard(s) in {wds_dir}")
    return WdsExport(
        wds_dir, sel.version, [str(s["file"]) for s in shards], len(keyed), sel.left_out
    )
