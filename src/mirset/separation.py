"""Demucs separation with the segments of several tracks batched into each forward pass.

``demucs.apply.apply_model`` cuts a track into overlapping segments and runs the network on one
segment at a time, which leaves a GPU mostly idle. :class:`BatchedSeparator` cuts every track the
same way (segment length from the model, 25 % overlap, the same centred padding and triangular
cross-fade weights), but stacks up to ``batch_segments`` segments — of one track or of several —
into one forward pass, and streams each track's finished samples to a sink as soon as no later
segment can touch them. The result equals ``apply_model(model, mix, shifts=0, split=True)`` to
within float rounding (checked in the tests), and memory stays bounded on a one-hour track: only
the samples still being cross-faded are held, never the whole separated track.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

Sink = Callable[[np.ndarray], None]  # receives (sources, channels, n) float32, in order


def _import_torch():  # type: ignore[no-untyped-def]
    import torch

    return torch


def sub_models(model):  # type: ignore[no-untyped-def]
    """[(network, per-source weights)] of a Demucs model or bag of models."""
    from demucs.apply import BagOfModels

    if isinstance(model, BagOfModels):
        return list(zip(model.models, model.weights, strict=True))
    return [(model, [1.0] * len(model.sources))]


def segment_length(model) -> int:  # type: ignore[no-untyped-def]
    """Samples per segment, as apply_model computes it; every network of a bag must agree."""
    lengths = {int(m.samplerate * m.segment) for m, _ in sub_models(model)}
    if len(lengths) != 1:
        raise ValueError(f"the networks of this bag use different segment lengths: {lengths}")
    return lengths.pop()


def crossfade_weight(length: int, transition_power: float = 1.0):  # type: ignore[no-untyped-def]
    """apply_model's triangular weight, largest mid-segment."""
    torch = _import_torch()
    weight = torch.cat(
        [torch.arange(1, length // 2 + 1), torch.arange(length - length // 2, 0, -1)]
    ).float()
    return (weight / weight.max()) ** transition_power


@dataclass
class _Track:
    mix: object  # torch tensor (channels, n)
    sink: Sink
    offsets: list[int]
    done: int = 0  # segments processed
    flushed: int = 0  # samples handed to the sink
    acc: object = None  # (sources, channels, held) weighted sum from ``flushed`` on
    wsum: object = None  # (held,) summed weights
    segments: list[tuple[int, int]] = field(default_factory=list)

    @property
    def length(self) -> int:
        return int(self.mix.shape[-1])  # type: ignore[attr-defined]


class BatchedSeparator:
    """Separates tracks with ``model``, ``batch_segments`` segments per forward pass."""

    def __init__(
        self,
        model,  # type: ignore[no-untyped-def]
        device: str = "cpu",
        batch_segments: int = 8,
        overlap: float = 0.25,
        transition_power: float = 1.0,
    ) -> None:
        torch = _import_torch()
        self.model = model
        self.device = torch.device(device)
        self.networks = sub_models(model)
        for net, _ in self.networks:
            net.to(self.device).eval()
        self.sources = list(model.sources)
        self.segment = segment_length(model)
        self.stride = int((1 - overlap) * self.segment)
        self.batch_segments = max(1, batch_segments)
        self.weight = crossfade_weight(self.segment, transition_power)
        totals = np.sum([np.asarray(w, dtype=np.float64) for _, w in self.networks], axis=0)
        self.mix_weights = [
            torch.tensor(np.asarray(w, dtype=np.float64) / totals, dtype=torch.float32)
            for _, w in self.networks
        ]

    def separate(self, mixes: Sequence[object], sinks: Sequence[Sink]) -> None:
        """Separate each (channels, n) tensor; its sink gets the sources in order, chunk by chunk."""
        tracks = [
            _Track(m, s, list(range(0, int(m.shape[-1]), self.stride)))  # type: ignore[attr-defined]
            for m, s in zip(mixes, sinks, strict=True)
        ]
        for batch in self._batches(tracks):
            outputs = self._forward([self._padded(t, o) for t, o in batch])
            for (track, offset), out in zip(batch, outputs, strict=True):
                self._add(track, offset, out)
                track.done += 1
                self._flush(track)

    # -- internals -------------------------------------------------------------------------
    def _batches(self, tracks: list[_Track]) -> Iterator[list[tuple[_Track, int]]]:
        batch: list[tuple[_Track, int]] = []
        for track in tracks:
            for offset in track.offsets:
                batch.append((track, offset))
                if len(batch) == self.batch_segments:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _padded(self, track: _Track, offset: int):  # type: ignore[no-untyped-def]
        """The segment at ``offset`` padded to the segment length as TensorChunk.padded does:
        centred on the segment, real samples where the track has them, zeros beyond."""
        torch = _import_torch()
        chunk = min(self.segment, track.length - offset)
        start = offset - (self.segment - chunk) // 2
        end = start + self.segment
        lo, hi = max(0, start), min(track.length, end)
        piece = track.mix[..., lo:hi]  # type: ignore[index]
        return torch.nn.functional.pad(piece, (lo - start, end - hi))

    def _forward(self, segments: list[object]):  # type: ignore[no-untyped-def]
        torch = _import_torch()
        x = torch.stack(segments).to(self.device)  # type: ignore[arg-type]
        total = None
        with torch.no_grad():
            for (net, _), w in zip(self.networks, self.mix_weights, strict=True):
                out = net(x).float().cpu() * w[None, :, None, None]
                total = out if total is None else total + out
        return total

    def _add(self, track: _Track, offset: int, out) -> None:  # type: ignore[no-untyped-def]
        """Cross-fade one segment's output (centre-trimmed to the real chunk) into the track."""
        torch = _import_torch()
        chunk = min(self.segment, track.length - offset)
        trim = (self.segment - chunk) // 2
        part = out[..., trim : trim + chunk]
        weight = self.weight[:chunk]
        end = offset + chunk - track.flushed
        if track.acc is None:
            shape = (len(self.sources), int(track.mix.shape[0]), 0)  # type: ignore[attr-defined]
            track.acc, track.wsum = torch.zeros(shape), torch.zeros(0)
        held = int(track.wsum.shape[0])  # type: ignore[attr-defined]
        if end > held:
            grow = end - held
            track.acc = torch.cat([track.acc, torch.zeros((*track.acc.shape[:2], grow))], -1)  # type: ignore[attr-defined]
            track.wsum = torch.cat([track.wsum, torch.zeros(grow)])
        lo = offset - track.flushed
        track.acc[..., lo:end] += weight * part  # type: ignore[index]
        track.wsum[lo:end] += weight  # type: ignore[index]

    def _flush(self, track: _Track) -> None:
        """Hand over the samples no later segment can change."""
        final = track.offsets[track.done] if track.done < len(track.offsets) else track.length
        n = final - track.flushed
        if n <= 0:
            return
        ready = track.acc[..., :n] / track.wsum[:n]  # type: ignore[index]
        track.sink(ready.numpy())
        track.acc = track.acc[..., n:].clone()  # type: ignore[index]
        track.wsum = track.wsum[n:].clone()  # type: ignore[index]
        track.flushed = final
