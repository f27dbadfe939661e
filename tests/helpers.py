"""Shared helpers for the end-to-end tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from mirset.export.store import scan


def run_mirset(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the real ``mirset`` command in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "mirset", *args], capture_output=True, text=True, timeout=timeout
    )


def read_table(out_dir: Path) -> pa.Table:
    return scan(DeltaTable(str(out_dir / "table")))


def rows_by_path(out_dir: Path) -> dict[str, dict]:
    return {r["relative_path"]: r for r in read_table(out_dir).to_pylist()}
