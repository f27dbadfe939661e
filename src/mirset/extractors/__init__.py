"""Built-in extractors; importing this package registers them."""

# Import order is catalogue order (FEATURES.md): it orders columns and .INFO keys.
from mirset.extractors import loudness  # noqa: I001, F401
from mirset.extractors import beats, downbeats, onsets, rhythm, spectral, multiband  # noqa: F401
from mirset.extractors import harmony, timbre, dynamics, stems, stems_features  # noqa: F401
from mirset.extractors import aesthetics, essentia_models, description, prompt  # noqa: F401
from mirset.extractors import track_metadata, metadata_lookup, crop  # noqa: F401
from mirset.extractors.base import Extractor, Null, Resources, register, registry, resolve

__all__ = ["Extractor", "Null", "Resources", "register", "registry", "resolve"]
