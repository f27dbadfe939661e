"""Access to Essentia's standard-mode algorithms with its console logging tamed."""

from __future__ import annotations

from types import ModuleType


def essentia_standard() -> ModuleType:
    """``essentia.standard``, imported with info and warning logs off (callers guard inputs)."""
    import essentia

    essentia.log.infoActive = False  # before importing essentia.standard, which logs at import
    essentia.log.warningActive = False  # short-input warnings: guarded by duration checks
    import essentia.standard as es

    return es
