"""The extractor contract and the registry.

An extractor is a small class: ``name``, ``version``, ``fields``, ``needs``, ``resources``,
``weights``, a pydantic ``Params`` model, ``setup()`` once per worker and ``extract(ctx)`` per track
(or ``extract_batch(ctxs)`` for batched GPU work). It returns ``{field: value}``; a value that cannot
be computed is ``Null("reason")``, never a placeholder.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from mirset.config import stable_hash
from mirset.context import TrackContext
from mirset.schemas.fields import FeatureField


@dataclass(frozen=True)
class Null:
    """A value that could not be computed, with the reason (stored as null + status note)."""

    reason: str


@dataclass(frozen=True)
class Resources:
    """What one extractor instance needs; executors schedule by it (Ray uses gpus for actors)."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory_mb: int = 512
    batch_size: int = 1  # > 1: the executor may call extract_batch with up to this many tracks


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Extractor(ABC):
    """Base class of every extractor. Subclasses set the class attributes and ``extract``."""

    name: ClassVar[str]
    version: ClassVar[str]
    fields: ClassVar[tuple[FeatureField, ...]]
    needs: ClassVar[tuple[str, ...]] = ()  # other extractors, or inputs such as "stems"
    # optional inputs: run after these when they run, and re-run when they change, but run
    # without them (e.g. dynamics takes a learned danceability when that model is there)
    uses: ClassVar[tuple[str, ...]] = ()
    resources: ClassVar[Resources] = Resources()
    weights: ClassVar[tuple[str, ...]] = ()  # model names resolved through the model store
    Params: ClassVar[type[BaseModel]] = NoParams
    # False: runs only when asked for by name (-e, ``mirset build --lookup``, ``mirset crops``),
    # never in a plain build of everything (online lookups, crop provenance)
    default: ClassVar[bool] = True

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        self.params = self.Params.model_validate(params or {})

    @property
    def params_hash(self) -> str:
        """Short hash of this extractor's parameters (part of what the planner compares)."""
        return stable_hash(self.params.model_dump())

    def setup(self) -> None:
        """Load models and other per-worker state. Called once per worker, never per track."""

    def unavailable_reason(self) -> str | None:
        """Why this extractor cannot run here (missing weights or package), else None."""
        return None

    @abstractmethod
    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        """Compute this extractor's fields for one track."""

    def extract_batch(self, ctxs: Sequence[TrackContext]) -> list[dict[str, Any]]:
        """Compute several tracks at once; the default runs them one by one."""
        return [self.extract(ctx) for ctx in ctxs]


_REGISTRY: dict[str, type[Extractor]] = {}


def register(cls: type[Extractor]) -> type[Extractor]:
    """Class decorator adding an extractor to the registry."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"two extractors named {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def registry() -> dict[str, type[Extractor]]:
    """Every known extractor: the built-in ones and those of installed plugins."""
    import mirset.extractors  # noqa: F401  (importing registers the built-in extractors)

    for ep in entry_points(group="mirset.extractors"):
        cls = ep.load()
        if cls.name not in _REGISTRY:
            register(cls)
    return dict(_REGISTRY)


def resolve(names: Iterable[str] | None = None) -> list[type[Extractor]]:
    """Extractor classes for ``names`` (every default one when None) plus what they need, in
    dependency order."""
    known = registry()
    wanted = [n for n, c in known.items() if c.default] if names is None else list(names)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise KeyError(f"unknown extractor(s): {', '.join(unknown)}; known: {', '.join(known)}")
    included: set[str] = set()

    def include(name: str) -> None:
        if name not in included:
            included.add(name)
            for dep in known[name].needs:
                if dep in known:
                    include(dep)

    for name in wanted:
        include(name)
    ordered: list[str] = []

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in ordered:
            return
        if name in stack:
            raise ValueError(f"extractor dependency cycle: {' -> '.join((*stack, name))}")
        for dep in (*known[name].needs, *known[name].uses):
            if dep in included:
                visit(dep, (*stack, name))
        ordered.append(name)

    for name in wanted:
        visit(name, ())
    return [known[n] for n in ordered]


def dependents(classes: Sequence[type[Extractor]], changed: set[str]) -> set[str]:
    """``changed`` plus every extractor that (transitively) needs or uses one of them."""
    out = set(changed)
    grew = True
    while grew:
        grew = False
        for cls in classes:
            if cls.name not in out and any(dep in out for dep in (*cls.needs, *cls.uses)):
                out.add(cls.name)
                grew = True
    return out
