"""The model store: every model mirset can use, where its weights live, fetch and verify.

Weights live in one directory (``--models-dir``, else ``$MIRSET_MODELS``, else
``~/.cache/mirset/models``), one sub-folder per family, laid out the way each library loads them
(Demucs: a local repo of ``<signature>-<sha256 prefix>.th`` files plus a ``<name>.yaml`` bag file,
exactly what ``demucs.pretrained.get_model(name, repo=folder)`` reads). ``fetch`` downloads on a
machine with internet, checks sizes and checksums, and renames into place atomically; everything
else works offline. An extractor whose weights are missing raises :class:`MissingWeights` with the
exact command that fixes it.

Models of your own (a fine-tuned Demucs, say) are added by a ``models.json`` in the store root: a
list of entries with the fields of :class:`ModelSpec` (``files`` as a list of :class:`ModelFile`
fields); they are listed, fetched, verified and loaded like the built-in ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

ENV_VAR = "MIRSET_MODELS"


def _flamingo_gguf(name: str, quant: str, size: str, repo: str) -> ModelSpec:
    """A quantisation of mradermacher's GGUF conversion of nvidia/music-flamingo-hf (projector
    from the static repo). Digests are recorded on first fetch (none are published)."""
    base = "https://huggingface.co/mradermacher/music-flamingo-hf-{}GGUF/resolve/main/{}"
    lm = f"music-flamingo-hf.{quant}.gguf"
    proj = "music-flamingo-hf.mmproj-f16.gguf"
    return ModelSpec(
        name=name,
        family="flamingo",
        description=f"Music Flamingo for llama.cpp: {quant.removeprefix('i1-')} language model "
        f"+ f16 audio projector ({size})",
        source=base.format(repo, "").removesuffix("/resolve/main/"),
        license="NVIDIA non-commercial research licence (inherited)",
        files=(
            ModelFile(f"flamingo/{lm}", base.format(repo, lm)),
            ModelFile(f"flamingo/{proj}", base.format("", proj)),
        ),
        used_by=("description",),
        extra="flamingo",
        folder="flamingo",
    )


LOCAL_REGISTRY = "models.json"
DEMUCS_ROOT = "https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/"


class MissingWeights(RuntimeError):
    """A model's files are not in the store; the message gives the command that fetches them."""


@dataclass(frozen=True)
class ModelFile:
    """One file of a model, relative to the store root.

    ``sha256`` is the full hex digest, or the prefix the publisher embeds in the file name
    (Demucs); ``content`` is for small text files mirset writes itself (Demucs bag yaml).
    """

    path: str
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    content: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A model: what it is for, where it comes from, its licence and its files."""

    name: str
    family: str
    description: str
    source: str
    license: str
    files: tuple[ModelFile, ...]
    used_by: tuple[str, ...] = ()
    extra: str | None = None  # pip extra with the code that runs it
    folder: str = ""  # sub-folder the loader is pointed at

    @property
    def size(self) -> tuple[int, bool]:
        """(bytes of the files whose size is known, whether every size is known)."""
        sizes = [f.size for f in self.files if f.content is None]
        return sum(s or 0 for s in sizes), all(s is not None for s in sizes)


DEMUCS_LICENSE = "MIT code; research-only weights (demucs issue #327)"
# Full sha256 and sizes as pinned by several independent projects; each starts with the 8 hex
# digits Demucs publishes in the file name, which is what Demucs itself checks.
DEMUCS_FILES = {
    "955717e8": ("8726e21a993978c7ba086d3872e7608d7d5bfca646ca4aca459ffda844faa8b4", 84141911),
    "f7e0c4bc": ("ba3fe64ae8ef66ac9a4857222ce48efbdc5eb3ad375cb79dd13debee5aaa4066", 84141271),
    "d12395a8": ("e57c48e6b0e38af4f7118d7bd08c49f0a0c0edf7d09143bdd902ea0d237303e6", 84141271),
    "92cfc3b6": ("ef3bcb9c8b40d14ae5d51b6db2587339cc12c6b77c0be151ce6d69002e087bf2", 84141271),
    "04573f0d": ("f3cf25b222c4eed7cd49dd8b2c9597d50c18bd154090f7b919cfa5f93cf22c49", 84141271),
    "5c90dfd2": ("34c22ccb381c6f9fdbf324f04e1e2fe21aaaf293f5ded163a162697ff9a02ddd", 54996327),
}


def _demucs(name: str, description: str, sigs: list[str], weights: str = "") -> ModelSpec:
    """A Demucs bag: its weight files (``<sig>-<sha256 prefix>.th``) and its yaml."""
    yaml = f"models: {sigs}\n" + (f"weights: {weights}\n" if weights else "")
    weight_files = []
    for sig in sigs:
        sha, size = DEMUCS_FILES[sig]
        fname = f"{sig}-{sha[:8]}.th"
        weight_files.append(ModelFile(f"demucs/{fname}", DEMUCS_ROOT + fname, sha, size))
    return ModelSpec(
        name=name,
        family="demucs",
        description=description,
        source="https://github.com/facebookresearch/demucs",
        license=DEMUCS_LICENSE,
        files=(*weight_files, ModelFile(f"demucs/{name}.yaml", content=yaml)),
        used_by=("stems",),
        extra="stems",
        folder="demucs",
    )


ESSENTIA_ROOT = "https://essentia.upf.edu/models/"
ESSENTIA_LICENSE = "CC BY-NC-SA 4.0 (non-commercial)"


def _essentia(
    name: str, folder: str, size: int | None, sha: str | None, description: str, used_by: str
) -> ModelSpec:
    """An Essentia model's ONNX export and its metadata (.json, not pinned: it is re-published).

    The MTG publishes no checksums; those of the heads' .onnx files are recorded on first fetch.
    """
    files = (
        ModelFile(f"essentia/{name}.onnx", f"{ESSENTIA_ROOT}{folder}/{name}.onnx", sha, size),
        ModelFile(f"essentia/{name}.json", f"{ESSENTIA_ROOT}{folder}/{name}.json"),
    )
    return ModelSpec(
        name=name,
        family="essentia",
        description=description,
        source="https://essentia.upf.edu/models.html",
        license=ESSENTIA_LICENSE,
        files=files,
        used_by=(used_by,),
        extra=None,
        folder="essentia",
    )


HEADS = "classification-heads/"
REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _demucs(
            "htdemucs",
            "Hybrid Transformer Demucs v4: drums, bass, other, vocals (default)",
            ["955717e8"],
        ),
        _demucs(
            "htdemucs_ft",
            "htdemucs fine-tuned per source: a bag of 4 models, better, 4x slower",
            ["f7e0c4bc", "d12395a8", "92cfc3b6", "04573f0d"],
            "[[1., 0., 0., 0.], [0., 1., 0., 0.], [0., 0., 1., 0.], [0., 0., 0., 1.]]",
        ),
        _demucs(
            "htdemucs_6s",
            "6 sources: drums, bass, other, vocals, guitar, piano (piano is experimental)",
            ["5c90dfd2"],
        ),
        ModelSpec(
            name="audiobox-aesthetics",
            family="audiobox",
            description="Audiobox Aesthetics: content enjoyment / usefulness, production "
            "complexity / quality (size and checksum not published: recorded on first fetch)",
            source="https://github.com/facebookresearch/audiobox-aesthetics",
            license="CC BY 4.0",
            files=(
                ModelFile(
                    "audiobox/checkpoint.pt",
                    "https://dl.fbaipublicfiles.com/audiobox-aesthetics/checkpoint.pt",
                ),
            ),
            used_by=("aesthetics",),
            extra="aesthetics",
            folder="audiobox",
        ),
        _essentia(
            "discogs-effnet-bsdynamic-1",
            "feature-extractors/discogs-effnet",
            18027718,
            "a280825b334797cf677939db8cd5762c0392aedd0ca6415dbc1cd083f045e43c",
            "Discogs-EffNet embeddings (1280-d, any batch size), shared by the heads",
            "essentia_genre, essentia_mood, essentia_instrument",
        ),
        _essentia(
            "genre_discogs400-discogs-effnet-1",
            HEADS + "genre_discogs400",
            None,
            None,
            "400 Discogs music styles",
            "essentia_genre",
        ),
        _essentia(
            "mtg_jamendo_moodtheme-discogs-effnet-1",
            HEADS + "mtg_jamendo_moodtheme",
            None,
            None,
            "56 MTG-Jamendo moods and themes",
            "essentia_mood",
        ),
        _essentia(
            "mtg_jamendo_instrument-discogs-effnet-1",
            HEADS + "mtg_jamendo_instrument",
            None,
            None,
            "40 MTG-Jamendo instruments",
            "essentia_instrument",
        ),
        _essentia(
            "danceability-discogs-effnet-1",
            HEADS + "danceability",
            None,
            None,
            "danceable / not danceable",
            "essentia_danceability",
        ),
        _essentia(
            "tonal_atonal-discogs-effnet-1",
            HEADS + "tonal_atonal",
            None,
            None,
            "tonal / atonal",
            "essentia_tonality",
        ),
        _essentia(
            "voice_instrumental-discogs-effnet-1",
            HEADS + "voice_instrumental",
            None,
            None,
            "voice / instrumental",
            "essentia_voice",
        ),
        _essentia(
            "gender-discogs-effnet-1",
            HEADS + "gender",
            514089,
            None,
            "female / male singing voice",
            "essentia_gender",
        ),
        *(
            _flamingo_gguf(name, quant, size, repo)
            for name, quant, size, repo in (
                ("music-flamingo-gguf", "Q8_0", "~9 GB: the old tool's choice", ""),
                ("music-flamingo-gguf-q6_k", "Q6_K", "~7.5 GB", ""),
                ("music-flamingo-gguf-q4_k_m", "Q4_K_M", "~6 GB", ""),
                ("music-flamingo-gguf-iq3_m", "i1-IQ3_M", "~5 GB, importance-matrix quant", "i1-"),
            )
        ),
        ModelSpec(
            name="music-flamingo-hf",
            family="flamingo",
            description="Music Flamingo transformers checkpoint (nvidia/music-flamingo-hf, ~16 GB; "
            "processor file names as transformers 5 saves them: check against the repo)",
            source="https://huggingface.co/nvidia/music-flamingo-hf",
            license="NVIDIA non-commercial research licence",
            files=tuple(
                ModelFile(
                    f"flamingo-hf/{f}",
                    f"https://huggingface.co/nvidia/music-flamingo-hf/resolve/main/{f}",
                )
                for f in (
                    "config.json",
                    "generation_config.json",
                    "model.safetensors.index.json",
                    *(f"model-0000{i}-of-00004.safetensors" for i in range(1, 5)),
                    "tokenizer.json",
                    "tokenizer_config.json",
                    "preprocessor_config.json",
                )
            ),
            used_by=("description",),
            extra="flamingo-hf",
            folder="flamingo-hf",
        ),
    )
}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry (the learned-annotator modules add theirs on import)."""
    REGISTRY[spec.name] = spec
    return spec


def default_models_dir() -> Path:
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mirset" / "models"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class FileState:
    path: Path
    problem: str | None  # None when the file is present and checks out


@dataclass
class ModelStore:
    """The weights directory and what is in it."""

    root: Path = field(default_factory=default_models_dir)

    def __post_init__(self) -> None:
        local = self.root / LOCAL_REGISTRY
        if local.is_file():
            for entry in json.loads(local.read_text(encoding="utf-8")):
                files = tuple(ModelFile(**f) for f in entry.pop("files"))
                used_by = tuple(entry.pop("used_by", ()))
                register_model(ModelSpec(files=files, used_by=used_by, **entry))

    def spec(self, name: str) -> ModelSpec:
        try:
            return REGISTRY[name]
        except KeyError:
            known = ", ".join(sorted(REGISTRY))
            raise KeyError(f"unknown model {name!r}; known: {known}") from None

    def path(self, name: str) -> Path:
        """The folder the model's loader is pointed at."""
        return self.root / self.spec(name).folder

    def fetch_command(self, name: str) -> str:
        flag = "" if self.root == default_models_dir() else f" --models-dir {self.root}"
        return f"mirset models fetch {name}{flag}"

    def check(self, name: str, full: bool = False) -> list[FileState]:
        """Each file's state: missing, wrong size, or (``full``: hashing) wrong checksum."""
        states = []
        for f in self.spec(name).files:
            p = self.root / f.path
            problem = None
            if not p.is_file():
                problem = "missing"
            elif f.content is not None:
                problem = None if p.read_text() == f.content else "differs from the registry"
            elif f.size is not None and p.stat().st_size != f.size:
                problem = f"size {p.stat().st_size} != {f.size}"
            elif full and (expected := f.sha256 or _recorded_sha(p)):
                problem = None if sha256_of(p).startswith(expected) else "checksum mismatch"
            states.append(FileState(p, problem))
        return states

    def present(self, name: str) -> bool:
        return all(s.problem is None for s in self.check(name))

    def require(self, name: str) -> Path:
        """The model's folder, or :class:`MissingWeights` naming the files and the fix."""
        bad = [s for s in self.check(name) if s.problem]
        if bad:
            what = ", ".join(f"{s.path.name} ({s.problem})" for s in bad)
            raise MissingWeights(
                f"model {name!r} is not in {self.root}: {what}; run `{self.fetch_command(name)}`"
            )
        return self.path(name)

    def fetch(
        self,
        name: str,
        force: bool = False,
        opener: Callable[[str], object] | None = None,
        log: Callable[[str], None] = lambda _msg: None,
    ) -> list[Path]:
        """Download the model's missing or bad files, verify them, and move them into place."""
        written = []
        for f, state in zip(self.spec(name).files, self.check(name, full=True), strict=True):
            if state.problem is None and not force:
                continue
            dest = self.root / f.path
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as out:
                    if f.content is not None:
                        out.write(f.content.encode())
                    else:
                        if not f.url:
                            raise RuntimeError(f"{f.path}: no download address in the registry")
                        log(f"downloading {f.url}")
                        opened = opener(f.url) if opener else _open(f.url)
                        with opened as resp:  # type: ignore[attr-defined]
                            shutil.copyfileobj(resp, out, 1 << 20)
                _verify_download(tmp, f)
                if f.sha256 is None and f.content is None:  # unpublished: record what we got
                    _record_path(dest).write_text(sha256_of(tmp) + "\n")
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
            written.append(dest)
        return written

    def names(self, family: str | None = None) -> Iterable[str]:
        return sorted(n for n, s in REGISTRY.items() if family in (None, s.family))


def _open(url: str) -> object:
    """urlopen with a stall timeout (a dead connection must not hang a fetch forever)."""
    return urllib.request.urlopen(url, timeout=60)


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _recorded_sha(path: Path) -> str | None:
    """The digest recorded when a file without a published checksum was fetched."""
    record = _record_path(path)
    return record.read_text().strip() if record.is_file() else None


def _verify_download(path: Path, f: ModelFile) -> None:
    if f.size is not None and path.stat().st_size != f.size:
        raise RuntimeError(f"{f.path}: downloaded {path.stat().st_size} bytes, expected {f.size}")
    if f.sha256 and not sha256_of(path).startswith(f.sha256):
        raise RuntimeError(f"{f.path}: checksum mismatch after download")


_CURRENT: dict[str, ModelStore] = {}


def use_store(root: Path | str | None) -> ModelStore:
    """Set the store this process resolves weights from (``None``: the default location)."""
    store = ModelStore(Path(root).expanduser() if root else default_models_dir())
    _CURRENT["store"] = store
    return store


def store() -> ModelStore:
    """The store of this process (set by the build and each worker; default otherwise)."""
    return _CURRENT.get("store") or use_store(None)
