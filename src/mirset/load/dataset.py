"""``MirsetDataset``: audio crops with their conditioning, for training.

Each item is ``(audio, info)`` — the layout Stable Audio Tools' datasets return — where
``audio`` is a float32 tensor ``(channels, round(seconds * sample_rate))`` and ``info`` holds
``prompt`` (str), ``seconds_start`` and ``seconds_total`` (int, as Stable Audio Tools computes
them: floor of the crop start, ceil of the track length), ``padding_mask`` (bool tensor, True
where there is audio), ``relative_path`` and one float per chosen feature. PyTorch's default
collate batches it, and it works with ``DataLoader(num_workers > 0)``: the rows are plain Python
values, files are opened inside the worker, and random crops and prompts come from torch's
per-worker generator (or from ``seed``, reproducibly, mixed with :meth:`set_epoch`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mirset.export.prompts import DEFAULT_PROMPT_SOURCES, prompt_candidates, prompt_columns
from mirset.load import features as load_features
from mirset.load import hf_shards, is_hf_repo, is_table
from mirset.load.audio import crop as read_crop

CROPS = ("random", "start", "center")
MISSING = ("drop", "nan", "error")


class MirsetDataset(Dataset):
    """Audio crops and conditioning from a built ``OUT_DIR`` or an exported Hugging Face repo.

    Args:
        source: ``OUT_DIR`` of ``mirset build``, or ``HF_DIR`` of ``mirset export hf``.
        version: table version or tag (``OUT_DIR`` only; ``None`` = latest).
        seconds: crop length; shorter tracks are zero-padded (see ``padding_mask``).
        sample_rate: output rate (resampled with soxr).
        channels: output channels (mono is copied, extra channels dropped; 1 = mono mix).
        crop: ``"random"``, ``"start"``, ``"center"``, or a fixed start in seconds.
        features: numeric columns to return in ``info`` (e.g. ``["bpm", "lufs"]``).
        prompt: ``"random"`` (a random candidate per item: the feature prompt, its variants,
            the descriptions) or ``"first"`` (the first candidate: the feature prompt).
        prompt_sources: which columns prompts come from (see ``mirset.export.prompts``).
        filter: a polars expression selecting rows, e.g. ``pl.col("bpm") > 100``.
        missing: a row without a chosen feature or a prompt is ``"drop"``-ped (counted in
            ``dropped``), returned with NaN / ``""`` (``"nan"``), or an ``"error"``.
        music_dir: where the audio is now (default: where it was built from; needed for an
            HF repo exported without audio).
        seed: makes crops and prompt choices reproducible (per item and epoch).
        include_failed: keep rows whose analysis failed (``status`` not ``ok``); a track whose
            audio could not be decoded is still left out (listed in ``dropped``).
    """

    def __init__(
        self,
        source: str | Path,
        *,
        version: int | str | None = None,
        seconds: float = 10.0,
        sample_rate: int = 44100,
        channels: int = 2,
        crop: str | float = "random",
        features: Sequence[str] = (),
        prompt: str = "random",
        prompt_sources: Sequence[str] = DEFAULT_PROMPT_SOURCES,
        filter: Any = None,
        missing: str = "drop",
        music_dir: str | Path | None = None,
        seed: int | None = None,
        include_failed: bool = False,
    ) -> None:
        import polars as pl

        if not isinstance(crop, int | float) and crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS} or a start in seconds, not {crop!r}")
        if missing not in MISSING:
            raise ValueError(f"missing must be one of {MISSING}")
        if prompt not in ("random", "first"):
            raise ValueError("prompt must be 'random' or 'first'")
        if seconds <= 0 or sample_rate <= 0 or channels <= 0:
            raise ValueError("seconds, sample_rate and channels must be positive")
        self.source = Path(source)
        self.seconds = float(seconds)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.crop = crop
        self.features = list(features)
        self.prompt = prompt
        self.prompt_sources = list(prompt_sources)
        self.music_dir = Path(music_dir) if music_dir is not None else None
        self.seed = seed
        self.epoch = 0

        lf = load_features(self.source, version)
        names = lf.collect_schema().names()
        unknown = [f for f in self.features if f not in names]
        if unknown:
            raise KeyError(f"no column(s) {unknown} in {self.source}")
        self.from_hf = not is_table(self.source) and is_hf_repo(self.source)
        self.embedded = self.from_hf and "audio" in names
        if self.from_hf and not self.embedded and self.music_dir is None:
            raise ValueError(
                f"{self.source} was exported without audio (--with-audio): pass music_dir"
            )
        if self.embedded:
            lf = pl.concat(
                [
                    pl.scan_parquet(str(p))
                    .select(pl.exclude("^audio.*$"))
                    .with_row_index("_row")
                    .with_columns(pl.lit(str(p)).alias("_shard"))
                    for p in hf_shards(self.source)
                ],
                how="diagonal_relaxed",
            )
        wanted = [
            "relative_path",
            "duration_s",
            "sample_rate",
            "source_path",
            "status",
            "_row",
            "_shard",
            *self.features,
            *prompt_columns(self.prompt_sources),
        ]
        have = lf.collect_schema().names()
        if not include_failed and "status" in have:
            lf = lf.filter(pl.col("status") == "ok")
        if filter is not None:
            lf = lf.filter(filter)
        rows = lf.select([c for c in dict.fromkeys(wanted) if c in have]).collect().to_dicts()
        rows.sort(key=lambda r: r["relative_path"])

        self.rows: list[dict[str, Any]] = []
        self.dropped: list[tuple[str, str]] = []
        for r in rows:
            if r.get("duration_s") is None or r.get("sample_rate") is None:
                # a failed decode (include_failed): there is no audio to crop, whatever `missing`
                self.dropped.append((r["relative_path"], "no decodable audio"))
                continue
            prompts = prompt_candidates(r, self.prompt_sources)
            lacking = [f for f in self.features if r.get(f) is None]
            if not prompts:
                lacking.append("prompt")
            if lacking and missing == "error":
                raise ValueError(f"{r['relative_path']}: no value for {lacking}")
            if lacking and missing == "drop":
                self.dropped.append((r["relative_path"], ", ".join(lacking)))
                continue
            self.rows.append(
                {
                    "relative_path": r["relative_path"],
                    "duration_s": float(r["duration_s"]),
                    "native_rate": int(r["sample_rate"]),
                    "source_path": r.get("source_path"),
                    "shard": r.get("_shard"),
                    "row": r.get("_row"),
                    "prompts": prompts,
                    "features": {
                        f: float("nan") if r.get(f) is None else float(r[f]) for f in self.features
                    },
                }
            )
        self._files: dict[str, Any] = {}
        self._group: tuple[tuple[str, int], Any] | None = None

    # ------------------------------------------------------------------ torch protocol
    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        """With ``seed``: a different (still reproducible) crop and prompt each epoch."""
        self.epoch = int(epoch)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_files"] = {}  # open Parquet files stay in the process that opened them
        state["_group"] = None
        return state

    def _rng(self, index: int) -> random.Random:
        if self.seed is not None:
            return random.Random(hash((self.seed, self.epoch, index)))
        return random.Random(int(torch.randint(0, 2**62, (1,)).item()))

    def offset(self, row: dict[str, Any], rng: random.Random) -> float:
        room = max(0.0, row["duration_s"] - self.seconds)
        if self.crop == "random":
            return rng.uniform(0.0, room)
        if self.crop == "start":
            return 0.0
        if self.crop == "center":
            return room / 2
        return float(self.crop)  # type: ignore[arg-type]

    def _source(self, row: dict[str, Any]) -> Path | bytes:
        if self.embedded:
            return self._embedded_bytes(row["shard"], int(row["row"]))
        if self.music_dir is not None:
            return self.music_dir / row["relative_path"]
        return Path(row["source_path"])

    def _embedded_bytes(self, shard: str, row: int) -> bytes:
        import pyarrow.parquet as pq

        pf = self._files.get(shard)
        if pf is None:
            pf = self._files[shard] = pq.ParquetFile(shard)
        meta = pf.metadata
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            if row < n:
                # the last row group read stays cached (exports keep them near 64 MB)
                if self._group is None or self._group[0] != (shard, g):
                    self._group = ((shard, g), pf.read_row_group(g, columns=["audio"]))
                return self._group[1].column("audio")[row].as_py()["bytes"]
            row -= n
        raise IndexError(f"row {row} beyond {shard}")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        row = self.rows[index]
        rng = self._rng(index)
        offset = self.offset(row, rng)
        audio, mask = read_crop(
            self._source(row),
            offset_s=offset,
            seconds=self.seconds,
            native_rate=row["native_rate"],
            sample_rate=self.sample_rate,
            channels=self.channels,
            suffix=Path(row["relative_path"]).suffix,
        )
        prompts = row["prompts"]
        if not prompts:
            prompt = ""
        elif self.prompt == "first":
            prompt = prompts[0]
        else:
            prompt = rng.choice(prompts)
        info: dict[str, Any] = {
            "prompt": prompt,
            "seconds_start": math.floor(offset),
            "seconds_total": math.ceil(row["duration_s"]),
            "padding_mask": torch.from_numpy(mask),
            "relative_path": row["relative_path"],
        }
        info.update(row["features"])
        return torch.from_numpy(np.ascontiguousarray(audio)), info
