"""Audio Commons timbral models: the extractor."""

from __future__ import annotations

from typing import Any

import librosa
import numpy as np
import pyarrow as pa

from mirset.audio import resample
from mirset.context import TrackContext, click_context
from mirset.extractors.base import Extractor, Null, register
from mirset.extractors.timbre.constants import (
    BANDWIDTH_HOP,
    FEATURES,
    HOP,
    HPSS_BLOCK_FRAMES,
    HPSS_BLOCKS,
    MIN_DURATION_S,
    MIN_RATE,
    N_FFT,
    N_MELS,
)
from mirset.extractors.timbre.models import timbre_models
from mirset.extractors.timbre.preprocess import normalisation_gain
from mirset.extractors.timbre.views import Views, views_of
from mirset.schemas.fields import FeatureField

_NOMINAL = (
    " Nominal range 0..100 (the original's regression); values outside are kept as computed (the"
    " original clips to 0..100 only on request, which the old tool did not use). Null, with the"
    " reason, for silence, input under 0.5 s or where the model is undefined."
)
_PREP = (
    " Input as in timbral_models 0.4: channel sum, loudness-normalised to -24 LUFS (peak at most"
    " 1), below 44.1 kHz upsampled to 44.1 kHz."
)


def _field(name: str, description: str) -> FeatureField:
    return FeatureField(name, pa.float64(), "score", description, (0.0, 100.0))


@register
class Timbre(Extractor):
    """The eight Audio Commons timbral models (timbral_models 0.4) in one pass over the track."""

    name = "timbre"
    version = "1"
    fields = (
        _field(
            "brightness",
            "apparent brightness (Audio Commons timbral model, A. Pearce, Univ. of Surrey):"
            " regression on the log share of the energy above 2 kHz and the log spectral centroid"
            " above 100 Hz, power-weighted over 2048-point frames of the 20 Hz high-passed track"
            " (-18 dB/octave filters). The energy of the original's mean-removed Hamming frames is"
            " computed exactly; the parts above 2 kHz and 100 Hz come from the long-term spectrum"
            " of the shared Hann STFT with the filters applied as |H(f)|^2." + _PREP + _NOMINAL,
        ),
        _field(
            "roughness",
            "apparent roughness: Vassilakis' model (SRA, 2007) - spectral peaks of 50 ms Hamming"
            " frames every 25 ms picked as MIRtoolbox's mirpeaks (threshold 0.01 of the largest"
            " bin), amplitude-weighted Plomp-Levelt dissonance of every pair, mean over frames,"
            " log-linear regression. The original reports 0 when the mean roughness is below 0.01;"
            " here the regression is kept (values below 21); null when no frame has two peaks."
            + _PREP
            + _NOMINAL,
        ),
        _field(
            "hardness",
            "apparent hardness: regression on the log onset-strength-weighted bandwidth maximum"
            " (5 % roll-on to the -75 dB roll-off of 4096-sample frames) in the first 100 ms of"
            " each attack, the log spectral centroid of the first 125 ms of each attack, the log"
            " 7-14 Bark specific loudness, the log percussive energy share (HPSS), the log mean"
            " onset strength and the mean log attack time (minimum-effort thresholds); onsets are"
            " librosa's, refined on a sample-and-hold envelope as in the original. Bounded"
            f" excerpts: the percussive share from {HPSS_BLOCKS} blocks of {HPSS_BLOCK_FRAMES}"
            f" STFT frames (~{HPSS_BLOCK_FRAMES * HOP / 44100:.2f} s each) spread over the track,"
            " bins below 11 kHz, STFT frame energies (the original: the whole track, inverse STFT);"
            f" the bandwidth track every {BANDWIDTH_HOP} samples up to 48 kHz, 256 at 96 kHz (the"
            " original: 128; its maximum reads slightly low)." + _PREP + _NOMINAL,
        ),
        _field(
            "depth",
            "apparent depth: regression on the power-weighted spectral centroid below 2 kHz"
            " (limited to 2 kHz), the energy share below 500 Hz, the log mean decay time to -40 dB"
            " after each onset, the log frequency of the lowest peak of the long-term spectrum,"
            " and two interactions; 20 Hz high-passed, peak-normalised track, mean-removed"
            " 4096-point Hamming frames (the -18 dB/octave low passes applied as |H(f)|^2; the"
            " onset strength from the shared mel spectrogram, i.e. before the high pass)."
            + _PREP
            + _NOMINAL,
        ),
        _field(
            "booming",
            "apparent boominess: Hatano & Hashimoto's booming index (2000) on the Zwicker specific"
            " loudness (ISO 532 B, one-third-octave filter bank per 4096-sample window), RMS^2-"
            "weighted over windows, with the log 0-7 Bark loudness; log-linear regression."
            + _PREP
            + _NOMINAL,
        ),
        _field(
            "reverberation",
            "probability x 100 that the track sounds reverberant (Audio Commons reverb model):"
            " logistic regression on the mean of the first two channels' blind RT60 (Jan & Wang's"
            " Laplacian maximum-likelihood estimate on detected sound decays, 0.2-1.1 s) - the"
            " old tool's timbral_reverb(dev_output=True) probability x 100. Raw channels at the"
            " native rate (upsampled to 44.1 kHz below that), no loudness normalisation; about 30"
            " (RT60 0.2 s) to 86 (1.1 s) by construction. Null for silence or input under 0.5 s.",
        ),
        _field(
            "sharpness",
            "apparent sharpness: Fastl's sharpness (acum weighting g(z), 0.11 factor) of the"
            " Zwicker specific loudness (ISO 532 B) of 4096-sample windows, RMS^2-weighted over"
            " windows; log-linear regression." + _PREP + _NOMINAL,
        ),
        _field(
            "warmth",
            "apparent warmth: regression on the log mean spectral centroid of the onset segments,"
            " the RMS-weighted 8-24 Bark and mean 1-4 Bark specific loudness (Zwicker, 4096-sample"
            " windows), the mean R^2 of the log-log spectral decay above 3.5x the lowest spectral"
            " peak, and the RMS-weighted energy share from that peak to 260 Hz." + _PREP + _NOMINAL,
        ),
    )

    def setup(self) -> None:
        self.extract(click_context())  # compile (or load) the numba kernels once per worker

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        if ctx.duration_s < MIN_DURATION_S:
            short = Null(f"shorter than {MIN_DURATION_S} s")
            return dict.fromkeys(FEATURES, short)
        samples, fs = work_audio(ctx)
        mono = samples[:3].sum(axis=0, dtype=np.float32) if samples.shape[0] > 1 else samples[0]
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        if not np.any(mono):
            return dict.fromkeys(
                FEATURES, Null("digital silence (of the channel sum, as analysed)")
            )
        gain = normalisation_gain(mono, fs)
        if gain is None:
            return dict.fromkeys(
                FEATURES, Null("too quiet: no 400 ms block above the -70 LUFS gate")
            )
        out, _ = timbre_models(mono, gain, fs, samples, shared_views(ctx, fs, mono, gain))
        return out


def work_audio(ctx: TrackContext) -> tuple[np.ndarray, int]:
    """(channels, n) audio at the original's working rate: native, or 44.1 kHz below that."""
    if ctx.sample_rate >= MIN_RATE:
        return ctx.samples, ctx.sample_rate
    if ctx.analysis.sample_rate == MIN_RATE:
        return ctx.analysis_audio, MIN_RATE
    return resample(ctx.samples, ctx.sample_rate, MIN_RATE), MIN_RATE


def shared_views(ctx: TrackContext, fs: int, mono: np.ndarray, gain: float) -> Views:
    """The context's STFT and mel views when they describe the same mono mix at the same rate with
    librosa's defaults (2048/512, 128 mels), else views of ``mono`` (the channel sum, which ``gain``
    turns into the loudness-normalised signal). The onset strength is always librosa's default
    (``center=True``) one, as the original uses, computed from the mel view."""
    a = ctx.analysis
    if (
        a.sample_rate == fs
        and (a.n_fft, a.hop_length, a.n_mels) == (N_FFT, HOP, N_MELS)
        and ctx.audio.channels <= 2
    ):
        mel_db = ctx.mel_db
        onset = librosa.onset.onset_strength(S=mel_db, sr=fs, n_fft=N_FFT, hop_length=HOP)
        scale = gain * ctx.audio.channels  # the context's mono mix is the channel mean
        return Views(
            ctx.spectrogram.magnitude, mel_db, onset.astype(np.float32), ctx.analysis_mono, scale
        )
    return views_of(mono, fs, gain)
