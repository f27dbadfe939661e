"""FeatureField: one column of the table, with the metadata every Arrow field carries."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

_SAME = object()


@dataclass(frozen=True)
class FeatureField:
    """A column: Arrow type, unit, valid range, description and its legacy ``.INFO`` key.

    ``info_key`` defaults to the column name; ``None`` keeps a column out of ``.INFO``
    (lists such as beat times, which go to text sidecars instead: see ``sidecar``).
    """

    name: str
    type: pa.DataType
    unit: str
    description: str
    range: tuple[float, float] | None = None
    info_key: str | object | None = _SAME
    sidecar: str | None = None  # suffix of a one-time-per-line sidecar, e.g. ".BEATS_GRID"
    info_object: bool = False  # a list of {label, probability} records: a JSON object in .INFO

    def info_value(self, value: Any) -> Any:
        """The value as ``.INFO`` stores it."""
        if self.info_object and value is not None:
            return {r["label"]: r["probability"] for r in value}
        return value

    @classmethod
    def times(cls, name: str, what: str, sidecar: str) -> FeatureField:
        """A list of event times in seconds, kept out of ``.INFO`` and written to a text sidecar."""
        return cls(
            name,
            pa.list_(pa.float64()),
            "s",
            f"{what} times (also the {sidecar} sidecar)",
            info_key=None,
            sidecar=sidecar,
        )

    @property
    def legacy_key(self) -> str | None:
        return self.name if self.info_key is _SAME else self.info_key  # type: ignore[return-value]

    def arrow(self, extractor: str, version: str) -> pa.Field:
        """The Arrow field with unit, range, description, extractor and version as metadata."""
        meta = {
            "unit": self.unit,
            "range": json.dumps(list(self.range)) if self.range else "",
            "description": self.description,
            "extractor": extractor,
            "version": version,
            "info_key": self.legacy_key or "",
            "sidecar": self.sidecar or "",
        }
        return pa.field(self.name, self.type, nullable=True, metadata=meta)

    def coerce(self, value: Any) -> tuple[Any, str | None]:
        """Check a value against the type; returns (value or None, reason when None)."""
        if value is None:
            return None, None
        t = self.type
        if pa.types.is_floating(t):
            v = float(value)
            if not math.isfinite(v):
                return None, f"non-finite value ({v})"
            return v, None
        if pa.types.is_integer(t) or pa.types.is_boolean(t):
            return (bool(value) if pa.types.is_boolean(t) else int(value)), None
        if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            items = [float(x) for x in value] if pa.types.is_floating(t.value_type) else list(value)
            if pa.types.is_floating(t.value_type) and not all(math.isfinite(x) for x in items):
                return None, "non-finite values in list"
            return items, None
        return value, None
