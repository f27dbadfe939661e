"""Scoring with ``mir_eval``: tempo Acc1/Acc2, beat and downbeat F-measure, meter, MIREX key.

A per-file score is ``None`` when the method gave no estimate of that kind (its column is missing
or null); when a method estimated a quantity for some files, its ``None`` files count as misses
(0), and a method with no estimate on any file is reported as n/a. A null bpm is always a miss.
Estimated beats / downbeats later than half a beat past the truth's last beat are not scored (the
truth ends at the final chord's onset; what follows is ringing and the render's tail).
``beat_offset_ms`` is a diagnostic: the median timing deviation of matched beats.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import mir_eval
import numpy as np

METRICS = ("acc1", "acc2", "beat_f", "downbeat_f", "meter", "key")
LABELS = {
    "acc1": "Tempo Acc1",
    "acc2": "Tempo Acc2",
    "beat_f": "Beat F",
    "downbeat_f": "Downbeat F",
    "meter": "Meter acc",
    "key": "Key (MIREX)",
    "beat_offset_ms": "Beat offset ms",
}
DIAGNOSTICS = ("beat_offset_ms",)  # medians over files, no 0 for missing
TARGETS = {"acc1": 0.98, "acc2": 1.0, "beat_f": 0.97, "downbeat_f": 0.90, "key": 0.97}
TEMPO_TOLERANCE = 0.04
ACC2_FACTORS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
F_WINDOW = 0.07
_FLATS = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E"}


def tempo_accuracy(ref: float, est: float | None) -> tuple[float, float]:
    """(Acc1, Acc2): estimate within ±4 % of the truth, also allowing ×2, ×½, ×3, ×⅓."""
    if est is None or not math.isfinite(est) or est <= 0:
        return 0.0, 0.0
    ok = [abs(est - ref * f) <= TEMPO_TOLERANCE * ref * f for f in ACC2_FACTORS]
    return float(ok[0]), float(any(ok))


def beat_f(ref: Sequence[float], est: Sequence[float]) -> float:
    """``mir_eval.beat.f_measure`` (±70 ms) after ``trim_beats`` (drops the first 5 s)."""
    r = mir_eval.beat.trim_beats(np.asarray(ref, dtype=float))
    e = mir_eval.beat.trim_beats(np.sort(np.asarray(est, dtype=float)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(mir_eval.beat.f_measure(r, e, f_measure_threshold=F_WINDOW))


def key_label(key: str, mode: str) -> str:
    """``mir_eval`` key label, e.g. ``F# minor``."""
    k = key.strip()
    k = _FLATS.get(k[:1].upper() + k[1:], k[:1].upper() + k[1:])
    return f"{k} {mode.strip().lower()}"


def key_score(ref_key: str, ref_mode: str, est_key: str, est_mode: str) -> float:
    """MIREX weighted key score (1 same, 0.5 fifth, 0.3 relative, 0.2 parallel)."""
    try:
        return float(
            mir_eval.key.weighted_score(key_label(ref_key, ref_mode), key_label(est_key, est_mode))
        )
    except ValueError:  # an unparseable estimate is a miss
        return 0.0


def beat_offset_ms(ref: Sequence[float], est: Sequence[float]) -> float | None:
    """Median signed deviation (ms, + = late) of estimated beats matched within ±70 ms."""
    r = mir_eval.beat.trim_beats(np.asarray(ref, dtype=float))
    e = mir_eval.beat.trim_beats(np.asarray(est, dtype=float))
    if not r.size or not e.size:
        return None
    d = e - r[np.abs(e[:, None] - r[None, :]).argmin(axis=1)]
    d = d[np.abs(d) <= F_WINDOW]
    return float(np.median(d) * 1000) if d.size else None


def _within_music(ref: Sequence[float], est: Sequence[float], period: float) -> list[float]:
    """Estimates up to half a period past the last reference time.

    Truth grids end at the final chord's onset; beats a tracker extrapolates into the ringing
    final chord and the render's tail are neither right nor wrong, so they are not scored.
    """
    end = (max(ref) if len(ref) else 0.0) + 0.5 * period
    return [float(t) for t in est if t <= end]


def score_file(truth: Mapping[str, Any], est: Mapping[str, Any] | None) -> dict[str, float | None]:
    """Scores of one estimate against one truth; ``None`` where nothing was estimated."""
    est = est or {}
    out: dict[str, float | None] = dict.fromkeys(METRICS + DIAGNOSTICS)
    if "bpm" in est:  # present (even if null: a null bpm is a miss)
        out["acc1"], out["acc2"] = tempo_accuracy(truth["bpm"], est["bpm"])
    period = 60.0 / truth["bpm"]
    if est.get("beats") is not None:
        beats = _within_music(truth["beats"], est["beats"], period)
        out["beat_f"] = beat_f(truth["beats"], beats)
        out["beat_offset_ms"] = beat_offset_ms(truth["beats"], beats)
    if est.get("downbeats") is not None:
        downbeats = _within_music(truth["beats"], est["downbeats"], period)
        out["downbeat_f"] = beat_f(truth["downbeats"], downbeats)
    if est.get("meter") is not None:
        out["meter"] = float(int(est["meter"]) == int(truth["meter"]))
    if est.get("key") and est.get("mode"):
        out["key"] = key_score(truth["key"], truth["mode"], est["key"], est["mode"])
    return out


def available(per_file: Iterable[Mapping[str, float | None]]) -> set[str]:
    """Metrics with an estimate on at least one file."""
    return {m for r in per_file for m in METRICS if r.get(m) is not None}


def aggregate(
    per_file: Iterable[Mapping[str, float | None]], avail: set[str] | None = None
) -> dict[str, float | None]:
    """Mean per metric; n/a (``None``) outside ``avail`` (default: metrics estimated on any of
    these files), else a file without an estimate counts as 0."""
    rows = list(per_file)
    avail = available(rows) if avail is None else avail
    out: dict[str, float | None] = {}
    for m in METRICS:
        vals = [r.get(m) for r in rows]
        if not rows or m not in avail:
            out[m] = None
        else:
            out[m] = float(np.mean([0.0 if v is None else v for v in vals]))
    for m in DIAGNOSTICS:
        vals = [v for r in rows if (v := r.get(m)) is not None]
        out[m] = float(np.median(vals)) if vals else None
    return out


def fmt(value: float | None, digits: int = 3, sign: bool = False) -> str:
    """``0.981`` (``+12.0`` with ``sign``) or ``n/a``."""
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
