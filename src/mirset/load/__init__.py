"""Reading a mirset dataset back for analysis and training.

- :func:`features` — the feature table as a polars ``LazyFrame`` (filter, join, aggregate), from
  a built ``OUT_DIR`` (any table version or tag) or an exported Hugging Face repo.
- :class:`MirsetDataset` — a torch ``Dataset`` of audio crops with their conditioning (prompt,
  ``seconds_start``, ``seconds_total``, chosen features), from the same two sources.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from mirset.load.dataset import MirsetDataset

__all__ = ["MirsetDataset", "features", "hf_shards", "is_hf_repo", "is_table"]


def is_table(source: Path) -> bool:
    """A built ``OUT_DIR`` (it holds ``table/_delta_log``)."""
    return (Path(source) / "table" / "_delta_log").is_dir()


def hf_shards(source: Path) -> list[Path]:
    return sorted((Path(source) / "data").glob("train-*.parquet"))


def is_hf_repo(source: Path) -> bool:
    """A repo written by ``mirset export hf`` (README.md and ``data/train-*.parquet``)."""
    return (Path(source) / "README.md").is_file() and bool(hf_shards(source))


def hf_provenance(source: Path) -> dict[str, Any]:
    import json

    from mirset.export.hf import PROVENANCE_FILE

    path = Path(source) / PROVENANCE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def features(source: str | Path, version: int | str | None = None) -> pl.LazyFrame:
    """The features of a dataset as a polars ``LazyFrame``.

    ``source`` is a built ``OUT_DIR`` — ``version`` is then a table version number, a tag name
    (``mirset tag``) or ``None`` for the latest — or an exported Hugging Face repo, whose one
    version is the one it was exported from (a different ``version`` is an error).

    >>> lf = features("/data/ds", version="v1")                      # doctest: +SKIP
    >>> lf.filter(pl.col("bpm").is_between(120, 130)).select("relative_path", "key").collect()
    """
    import polars as pl

    from mirset.export.versions import VersionError, resolve

    src = Path(source)
    if is_table(src):
        tv = resolve(src, version)
        return pl.scan_delta(str(tv.table_path), version=tv.version)
    if is_hf_repo(src):
        if version is not None:
            prov = hf_provenance(src)
            names = {str(prov.get("table_version")), prov.get("label"), *prov.get("tags", [])}
            if str(version) not in names:
                raise VersionError(
                    f"{src} holds table version {prov.get('table_version')} "
                    f"({prov.get('label')}), not {version!r}: export that version again"
                )
        return pl.scan_parquet([str(p) for p in hf_shards(src)])
    raise FileNotFoundError(
        f"{src} is neither a mirset OUT_DIR (table/) nor a repo made by `mirset export hf`"
    )


def __getattr__(name: str) -> Any:  # torch is imported only when the Dataset is used
    if name == "MirsetDataset":
        from mirset.load.dataset import MirsetDataset

        return MirsetDataset
    raise AttributeError(name)
