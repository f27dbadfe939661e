"""The Essentia Discogs-EffNet models: genre (400 Discogs styles), mood/theme (56), instrument
(40), and the two-class heads danceability, tonal/atonal, voice/instrumental and female/male.

Discogs-EffNet (Alonso-Jiménez et al. 2023) turns 2.05 s patches of a mel spectrogram into a
1280-d embedding; small classifier heads map embeddings to labels. mirset computes the mel
spectrogram with Essentia's own front end (``TensorflowInputMusiCNN`` on 512-sample frames, hop
256, of the 16 kHz mono signal: 96 Slaney mel bands, ``log10(1 + 10000 x)``), cuts patches of 128
frames with a hop of 62 as ``TensorflowPredictEffnetDiscogs`` does, runs the embedding model
**once per track** (shared by every head through the track context) and averages each head's
patch predictions over the track.

The models run with ONNX Runtime from the ONNX exports the MTG publishes beside the TensorFlow
graphs (same weights; the embedding model with a dynamic batch size). That keeps TensorFlow out
of the worker processes — in the old tool it deadlocked and leaked memory there — and avoids the
``essentia`` / ``essentia-tensorflow`` wheel clash; one session per model, loaded once per worker.
Label lists ship with mirset (``essentia_labels/``, copied from the models' metadata files).
The models are CC BY-NC-SA 4.0 (non-commercial).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from mirset import models
from mirset.context import TrackContext
from mirset.extractors.base import Extractor, Null, register
from mirset.schemas.fields import FeatureField

SAMPLE_RATE = 16000
FRAME, HOP = 512, 256
PATCH, PATCH_HOP = 128, 62
EMBEDDING_MODEL = "discogs-effnet-bsdynamic-1"
LABELS_DIR = Path(__file__).parent / "essentia_labels"
TOP_K, MIN_PROBABILITY = 10, 0.1


@functools.cache
def labels(model: str) -> list[str]:
    return list(json.loads((LABELS_DIR / f"{model}.json").read_text(encoding="utf-8"))["classes"])


def mel_patches(mono16k: np.ndarray) -> np.ndarray:
    """(patches, 128, 96) float32 input of Discogs-EffNet, from Essentia's own front end."""
    import essentia.standard as es

    frontend = es.TensorflowInputMusiCNN()
    frames = [frontend(f) for f in es.FrameGenerator(mono16k.astype(np.float32), FRAME, HOP)]
    mel = np.asarray(frames, dtype=np.float32).reshape(-1, 96)
    if mel.shape[0] < PATCH:
        return np.empty((0, PATCH, 96), np.float32)
    starts = range(0, mel.shape[0] - PATCH + 1, PATCH_HOP)
    return np.stack([mel[s : s + PATCH] for s in starts])


class OnnxModel:
    """One ONNX Runtime session, loaded once per worker; one thread (workers are the parallelism)."""

    def __init__(self, path: Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        providers = [p for p in ort.get_available_providers() if p in ("CUDAExecutionProvider",)]
        self.session = ort.InferenceSession(
            str(path), options, providers=[*providers, "CPUExecutionProvider"]
        )
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, x: np.ndarray, batch: int = 64) -> dict[str, np.ndarray]:
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.outputs}
        for lo in range(0, max(len(x), 1), batch):
            got = self.session.run(self.outputs, {self.input: x[lo : lo + batch]})
            for name, value in zip(self.outputs, got, strict=True):
                parts[name].append(np.asarray(value))
        return {name: np.concatenate(v) for name, v in parts.items()}


@functools.cache
def onnx_model(path: str) -> OnnxModel:
    return OnnxModel(Path(path))


def model_file(name: str) -> Path:
    """The .onnx file of a model in the store (MissingWeights when it is not there)."""
    folder = models.store().require(name)
    spec = models.store().spec(name)
    onnx = next(f for f in spec.files if f.path.endswith(".onnx"))
    return folder / Path(onnx.path).name


def embeddings(ctx: TrackContext, model: str = EMBEDDING_MODEL) -> np.ndarray:
    """(patches, 1280) Discogs-EffNet embeddings of the track, computed once per track."""

    def compute() -> np.ndarray:
        mono = ctx.mono_at(SAMPLE_RATE)  # shared 16 kHz view
        patches = mel_patches(np.ascontiguousarray(mono))
        if len(patches) == 0:
            return np.empty((0, 1280), np.float32)
        out = onnx_model(str(model_file(model)))(patches)
        return out["embeddings"] if "embeddings" in out else out[list(out)[-1]]

    return ctx.derived(("discogs_effnet", model), "discogs-effnet", compute)


def top_labels(probs: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    """Labels with p >= 0.1, at most 10, highest first, as {label, probability} records."""
    order = np.argsort(-probs, kind="stable")[:TOP_K]
    return [
        {"label": names[i], "probability": round(float(probs[i]), 4)}
        for i in order
        if probs[i] >= MIN_PROBABILITY
    ]


class HeadParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    embedding_model: str = EMBEDDING_MODEL


class EssentiaHead(Extractor):
    """A multi-label head on the shared embeddings: top labels + the full probability vector."""

    head: ClassVar[str]  # model name in the store and label file
    column: ClassVar[str]
    Params = HeadParams

    @property
    def weights(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.params.embedding_model, self.head)  # type: ignore[attr-defined]

    def unavailable_reason(self) -> str | None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "needs onnxruntime: pip install onnxruntime"
        store = models.store()
        missing = [n for n in self.weights if not store.present(n)]
        if missing:
            flag = (
                "" if store.root == models.default_models_dir() else f" --models-dir {store.root}"
            )
            return (
                f"model(s) {', '.join(missing)} not in {store.root}; "
                f"run `mirset models fetch {' '.join(missing)}{flag}`"
            )
        return None

    def setup(self) -> None:
        for name in self.weights:
            onnx_model(str(model_file(name)))

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        emb = embeddings(ctx, self.params.embedding_model)  # type: ignore[attr-defined]
        if len(emb) == 0:
            why = Null(f"shorter than one {PATCH * HOP / SAMPLE_RATE:.2f} s patch")
            return {self.column: why, f"{self.column}_probabilities": why}
        out = onnx_model(str(model_file(self.head)))(emb.astype(np.float32))
        act = out.get("activations", next(iter(out.values())))
        probs = act.mean(axis=0).astype(np.float64)
        names = labels(self.head)
        if probs.size != len(names):
            raise ValueError(f"{self.head}: {probs.size} outputs but {len(names)} labels")
        return {
            self.column: top_labels(probs, names),
            f"{self.column}_probabilities": [float(p) for p in probs],
        }


def _head_fields(column: str, head: str, what: str) -> tuple[FeatureField, ...]:
    n = len(labels(head))
    record = pa.struct([("label", pa.string()), ("probability", pa.float64())])
    return (
        FeatureField(
            column,
            pa.list_(record),
            "probability",
            f"{what}: labels with probability >= {MIN_PROBABILITY}, at most {TOP_K}, highest "
            "first (.INFO: a label -> probability object)",
            (0.0, 1.0),
            info_object=True,
        ),
        FeatureField(
            f"{column}_probabilities",
            pa.list_(pa.float32()),  # always n long (Delta Lake has no fixed-size list type)
            "probability",
            f"{what}: all {n} probabilities, in the order of the model's labels "
            f"(mirset/extractors/essentia_labels/{head}.json)",
            (0.0, 1.0),
            info_key=None,
        ),
    )


def _head(name: str, head: str, column: str, what: str) -> type[EssentiaHead]:
    cls = type(
        f"Head_{column}",
        (EssentiaHead,),
        {
            "name": name,
            "version": "1",
            "head": head,
            "column": column,
            "fields": _head_fields(column, head, what),
            "__doc__": f"{what} from the Discogs-EffNet embeddings.",
        },
    )
    return register(cls)


EssentiaGenre = _head(
    "essentia_genre", "genre_discogs400-discogs-effnet-1", "essentia_genre", "Discogs music styles"
)
EssentiaMood = _head(
    "essentia_mood",
    "mtg_jamendo_moodtheme-discogs-effnet-1",
    "essentia_mood",
    "MTG-Jamendo moods and themes",
)
EssentiaInstrument = _head(
    "essentia_instrument",
    "mtg_jamendo_instrument-discogs-effnet-1",
    "essentia_instrument",
    "MTG-Jamendo instruments",
)


class BinaryHead(EssentiaHead):
    """A two-class head: each class's probability in its own column (mapped by label name)."""

    columns: ClassVar[dict[str, str]]  # label -> column

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        emb = embeddings(ctx, self.params.embedding_model)  # type: ignore[attr-defined]
        if len(emb) == 0:
            why = Null(f"shorter than one {PATCH * HOP / SAMPLE_RATE:.2f} s patch")
            return dict.fromkeys(self.columns.values(), why)
        out = onnx_model(str(model_file(self.head)))(emb.astype(np.float32))
        probs = out.get("activations", next(iter(out.values()))).mean(axis=0)
        names = labels(self.head)
        return {column: float(probs[names.index(label)]) for label, column in self.columns.items()}


VOICE_LIKELY = 0.5


class GenderHead(BinaryHead):
    """Female / male probabilities, only when the voice head (if it ran) finds a voice likely."""

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        voice = (ctx.results.get("essentia_voice") or {}).get("voice_probability")
        if voice is not None and voice < VOICE_LIKELY:
            why = Null(f"no singing voice likely (voice probability {voice:.2f} < {VOICE_LIKELY})")
            return dict.fromkeys(self.columns.values(), why)
        return super().extract(ctx)


def _binary(
    name: str,
    head: str,
    columns: dict[str, str],
    what: dict[str, str],
    uses: tuple[str, ...] = (),
    base: type[BinaryHead] = BinaryHead,
) -> type[BinaryHead]:
    fields = tuple(
        FeatureField(
            column,
            pa.float64(),
            "probability",
            what[label],
            (0.0, 1.0),
            info_key=None if column == "danceability_model" else column,
        )
        for label, column in columns.items()
    )
    cls = type(
        f"Binary_{name}",
        (base,),
        {
            "name": name,
            "version": "1",
            "head": head,
            "column": name,
            "columns": columns,
            "fields": fields,
            "uses": uses,
            "__doc__": f"{', '.join(columns.values())} from the Discogs-EffNet embeddings.",
        },
    )
    return register(cls)


EssentiaDanceability = _binary(
    "essentia_danceability",
    "danceability-discogs-effnet-1",
    {"danceable": "danceability_model"},
    {
        "danceable": "P(danceable) of the Discogs-EffNet danceability head; it becomes "
        "`danceability` (dynamics) when present"
    },
)
EssentiaTonality = _binary(
    "essentia_tonality",
    "tonal_atonal-discogs-effnet-1",
    {"atonal": "atonality"},
    {"atonal": "P(atonal) (the old tool stored P(tonal) under this name)"},
)
EssentiaVoice = _binary(
    "essentia_voice",
    "voice_instrumental-discogs-effnet-1",
    {"voice": "voice_probability", "instrumental": "instrumental_probability"},
    {"voice": "P(singing voice)", "instrumental": "P(instrumental)"},
)
EssentiaGender = _binary(
    "essentia_gender",
    "gender-discogs-effnet-1",
    {"female": "female_probability", "male": "male_probability"},
    {"female": "P(female voice), only when a voice is likely", "male": "P(male voice), ditto"},
    uses=("essentia_voice",),
    base=GenderHead,
)
