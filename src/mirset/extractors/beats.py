"""Beats and tempo.

``rnn`` (default): madmom's downbeat RNN ensemble decoded jointly with the bar structure by a
bar-pointer HMM (:mod:`mirset.beat_tracking`); the downbeats extractor reuses the same decode.
Chosen by ``bench/accuracy`` (68 rendered files): tempo Acc1 0.926, beat F 0.976, against 0.853 /
0.948 for ``dp`` and Essentia's ``RhythmExtractor2013`` 0.853 / 0.951, at ~0.6 s per minute of
audio (madmom's own pipeline: 4.3 s). Its network weights are CC BY-NC-SA 4.0 (non-commercial).
``dp``: librosa's dynamic-programming tracker (Ellis 2007) on the shared onset envelope with the
global tempo computed block by block; no model weights, permissively licensed.
Both trackers impose a grid even on noise, so beats are only reported when the onset envelope
has a clear periodicity (``pulse_clarity``), and ``bpm`` only when the intervals are also steady;
otherwise ``bpm`` is null with the reason (never a 120 default).
"""

from __future__ import annotations

from typing import Any, Literal

import librosa
import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from mirset import beat_tracking
from mirset.context import TrackContext, click_context
from mirset.extractors.base import Extractor, Null, register
from mirset.schemas.fields import FeatureField


def pulse_clarity(
    envelope: np.ndarray, sr: int, hop_length: int, min_bpm: float = 30.0, max_bpm: float = 300.0
) -> float:
    """Peak of the normalised autocorrelation of the onset envelope over beat-period lags.

    0 for noise (no periodicity), towards 1 for a perfectly periodic pulse.
    """
    env = envelope.astype(np.float64) - envelope.mean()
    denom = float(env @ env)
    if denom <= 0 or env.size < 4:
        return 0.0
    n = int(2 ** np.ceil(np.log2(2 * env.size)))
    spec = np.fft.rfft(env, n)
    ac = np.fft.irfft(spec * np.conj(spec), n)[: env.size] / denom
    frame_rate = sr / hop_length
    lo = max(1, int(frame_rate * 60.0 / max_bpm))
    hi = min(env.size - 1, int(np.ceil(frame_rate * 60.0 / min_bpm)))
    if hi <= lo:
        return 0.0
    return float(max(0.0, ac[lo : hi + 1].max()))


def global_tempo(
    envelope: np.ndarray,
    sr: int,
    hop_length: int,
    start_bpm: float = 120.0,
    ac_size: float = 8.0,
    block_frames: int = 8192,
) -> float:
    """librosa's global tempo estimate (mean autocorrelation tempogram, log-normal prior),
    with the tempogram computed block by block so memory does not grow with track length.

    ``librosa.feature.tempo`` on a whole one-hour envelope peaks at ~10 GB; this gives the same
    value within float rounding (blocks carry half a window of context on each side).
    """
    win = int(librosa.time_to_frames(ac_size, sr=sr, hop_length=hop_length))
    half = win // 2 + 1
    n = envelope.size
    total = np.zeros(win)
    count = 0
    for start in range(0, n, block_frames):
        lo, hi = max(0, start - half), min(n, start + block_frames + half)
        tg = librosa.feature.tempogram(
            onset_envelope=envelope[lo:hi], sr=sr, hop_length=hop_length, win_length=win
        )
        own = tg[:, start - lo : start - lo + min(block_frames, n - start)]
        total += own.sum(axis=1)
        count += own.shape[1]
    mean = (total / max(count, 1))[:, None]
    return float(
        librosa.feature.tempo(
            tg=mean, sr=sr, hop_length=hop_length, start_bpm=start_bpm, aggregate=None
        )[0]
    )


def beat_period(beat_times: np.ndarray) -> float:
    """Beat period (s): least-squares slope of beat time against beat index.

    Unlike the median inter-beat interval, which is quantised to the frame hop (11.6 ms, i.e.
    ±3 BPM at 128 BPM), the slope averages the quantisation away.
    """
    index = np.arange(beat_times.size, dtype=np.float64)
    slope, _ = np.polyfit(index, beat_times, 1)
    return float(slope)


def steady_share(beat_times: np.ndarray, tolerance: float = 0.1) -> float:
    """Share of inter-beat intervals within ``tolerance`` (relative) of the median interval."""
    ibi = np.diff(beat_times)
    if ibi.size == 0:
        return 0.0
    med = np.median(ibi)
    return float(np.mean(np.abs(ibi - med) <= tolerance * med))


class BeatParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["rnn", "dp"] = "rnn"
    n_models: int = Field(8, ge=1, le=8)  # rnn: networks of the ensemble averaged
    track_min_bpm: float = 55.0  # rnn: tempo range of the bar-pointer model
    track_max_bpm: float = 215.0
    start_bpm: float = 120.0  # dp: tempo prior
    tightness: float = 100.0
    min_bpm: float = 40.0
    max_bpm: float = 300.0
    min_pulse_clarity: float = 0.1
    min_beats: int = 8
    min_steady_share: float = 0.7


@register
class Beats(Extractor):
    """Beat times, tempo (null without a steady beat) and pulse clarity."""

    name = "beats"
    version = "2"
    Params = BeatParams
    fields = (
        FeatureField(
            "bpm",
            pa.float64(),
            "BPM",
            "global tempo, 60 / beat period (least-squares slope of beat times); null when there is no steady beat (never a default)",
            (40.0, 300.0),
        ),
        FeatureField(
            "bpm_is_defined",
            pa.int8(),
            "bool",
            "1 when a steady beat was found (clear pulse, enough beats, steady intervals), else 0",
            (0.0, 1.0),
        ),
        FeatureField("beat_count", pa.int32(), "beats", "number of beats", (0.0, 100000.0)),
        FeatureField(
            "pulse_clarity",
            pa.float64(),
            "ratio",
            "peak normalised autocorrelation of the onset envelope at beat-period lags (30-300 BPM)",
            (0.0, 1.0),
        ),
        FeatureField.times("beat_times", "beat", ".BEATS_GRID"),
    )

    def setup(self) -> None:
        self.extract(click_context())  # load the networks, compile numba kernels once per worker

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        p: BeatParams = self.params  # type: ignore[assignment]
        a = ctx.analysis
        env = ctx.onset_envelope
        clarity = pulse_clarity(env, a.sample_rate, a.hop_length)
        beats = np.empty(0)
        if clarity >= p.min_pulse_clarity and env.max() > 0:
            beats = self.track(ctx) if p.method == "rnn" else self.track_dp(ctx)
        steady = steady_share(beats)
        bpm: Any
        if env.max() <= 0:
            bpm = Null("no onsets (silent)")
        elif clarity < p.min_pulse_clarity:
            bpm = Null(f"no steady beat: pulse clarity {clarity:.3f} < {p.min_pulse_clarity}")
        elif beats.size < p.min_beats:
            bpm = Null(f"no steady beat: {beats.size} beats < {p.min_beats}")
        elif steady < p.min_steady_share:
            bpm = Null(
                f"no steady beat: {steady:.0%} of intervals steady < {p.min_steady_share:.0%}"
            )
        else:
            bpm = 60.0 / beat_period(beats)
            if not p.min_bpm <= bpm <= p.max_bpm:
                bpm = Null(f"tempo {bpm:.1f} BPM outside {p.min_bpm:g}-{p.max_bpm:g}")
        return {
            "bpm": bpm,
            "bpm_is_defined": int(not isinstance(bpm, Null)),
            "beat_count": int(beats.size),
            "pulse_clarity": clarity,
            "beat_times": [round(float(t), 6) for t in beats],
        }

    def track(self, ctx: TrackContext) -> np.ndarray:
        return bar_grid(ctx, self.params).beats  # type: ignore[arg-type]

    def track_dp(self, ctx: TrackContext) -> np.ndarray:
        p: BeatParams = self.params  # type: ignore[assignment]
        a = ctx.analysis
        env = ctx.onset_envelope
        tempo = global_tempo(env, a.sample_rate, a.hop_length, p.start_bpm)
        _, frames = librosa.beat.beat_track(
            onset_envelope=env,
            sr=a.sample_rate,
            hop_length=a.hop_length,
            bpm=tempo,
            tightness=p.tightness,
            trim=True,
        )
        return librosa.frames_to_time(frames, sr=a.sample_rate, hop_length=a.hop_length)


BAR_GRID = ("bar_grid",)  # shared-representation key of the joint decode, read by downbeats


def rnn_activations(ctx: TrackContext, n_models: int) -> np.ndarray:
    """(frames, 2) beat and downbeat probabilities at 100 fps, computed once per track."""
    return ctx.derived(
        ("rnn_activations", n_models),
        "beat rnn",
        lambda: beat_tracking.activations(ctx.mono_at(beat_tracking.SAMPLE_RATE), n_models),
    )


def bar_grid(ctx: TrackContext, p: BeatParams) -> beat_tracking.BarGrid:
    """The track's joint beat / downbeat decode, computed once and shared with ``downbeats``."""
    act = rnn_activations(ctx, p.n_models)
    return ctx.derived(
        BAR_GRID,
        "bar decoding",
        lambda: beat_tracking.track_bars(act, p.track_min_bpm, p.track_max_bpm),
    )
