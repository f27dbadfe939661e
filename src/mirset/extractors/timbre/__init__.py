"""Audio Commons timbral models: brightness, roughness, hardness, depth, booming, reverberation,
sharpness and warmth (nominally 0..100).

A reimplementation of ``timbral_models`` 0.4 (Andy Pearce, Institute of Sound Recording, University
of Surrey; Audio Commons deliverables D5.2, D5.6 and D5.8;
https://github.com/AudioCommons/timbral_models). The regression coefficients and constants are the
published models'. The signal processing follows the original step by step, but all eight models
come from one decode of the track (the original read the file eight times), computed on whole
arrays with numpy and scipy and with numba for the sequential parts (envelopes, onset walks, peak
picking, Zwicker loudness, filter banks run across windows at once, RT60 frames). Every part is
linear in the track length or bounded, and memory stays at a few copies of the track (block-wise
spectra).

Preprocessing, as in the original: the channels are summed to mono (the first three of more than
two), loudness-normalised to -24 LUFS (BS.1770 K-weighting and gating, as pyloudnorm measures it)
and scaled down to peak 1 when that would clip; audio below 44.1 kHz is upsampled to 44.1 kHz,
other rates are used as they are. Reverberation uses the raw first two channels, as the original
does.

Departures from the original, chosen for speed and measured against it
(``bench/timbral_reference.py``): hardness' harmonic/percussive split runs on a bounded excerpt and
its bandwidth track on a coarser hop; brightness takes its high-passed energies from the long-term
spectrum of the shared STFT; depth's low passes are applied to the spectra and its onsets come from
the shared mel view. Nothing is clipped to 0..100 (the original only clips on request); where the
original has no defined value (silence, the logarithm of zero, a crash) the field is null with the
reason, and roughness keeps its regression below the original's floor (see the field
descriptions).
"""

from mirset.extractors.timbre.constants import FEATURES
from mirset.extractors.timbre.extractor import Timbre
from mirset.extractors.timbre.preprocess import loudness_normalise
from mirset.extractors.timbre.reverb import rt60_estimate

__all__ = ["FEATURES", "Timbre", "loudness_normalise", "rt60_estimate"]
