"""Shared pytest fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if str(Path(__file__).parent) not in sys.path:  # `import corpus` under any --import-mode
    sys.path.insert(0, str(Path(__file__).parent))

from corpus import Corpus, build_corpus


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    """Real-music test corpus, built once and cached (``$MIRSET_TEST_CORPUS``). Read-only:
    tests that write beside the audio must use ``corpus.copy(tmp_path)``."""
    return build_corpus()
