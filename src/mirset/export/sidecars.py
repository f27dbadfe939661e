"""Back-compatible sidecars: merge-only ``.INFO`` JSON and one-time-per-line text files.

Every write is atomic (temp file in the same folder, then ``os.replace``). ``.INFO`` updates take
a file lock, keep every existing key in its place, append new keys, and never overwrite a corrupt
file: it is moved aside to ``<name>.corrupt-<UTC time>`` and kept.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

LOCK_TIMEOUT_S = 60.0


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (readers see the old or the new file, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:80]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; sidecars follow the umask
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def format_times(times: Iterable[float]) -> str:
    """The text sidecar format: one time in seconds per line, 6 decimals, newline-terminated."""
    return "".join(f"{t:.6f}\n" for t in times)


def write_times(path: Path, times: Iterable[float]) -> None:
    atomic_write_text(path, format_times(times))


def read_times(path: Path) -> list[float]:
    """Read a text sidecar (first token of each non-empty line)."""
    return [
        float(line.split()[0])
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def merge_info(path: Path, updates: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``updates`` into the ``.INFO`` JSON at ``path`` under a lock; returns the result.

    Existing keys keep their order and are never removed; new keys are appended. A file that is
    not a JSON object is renamed aside (kept), and a fresh file is started.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
        current: dict[str, Any] = {}
        if path.exists():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(loaded, dict):
                    raise ValueError("not a JSON object")
                current = loaded
            except (ValueError, UnicodeDecodeError):
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
                os.replace(path, path.with_name(f"{path.name}.corrupt-{stamp}"))
        current.update(updates)
        atomic_write_text(path, json.dumps(current, indent=2, ensure_ascii=False, allow_nan=False))
        return current
