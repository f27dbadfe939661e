"""mirset: a versioned, columnar feature dataset from a music collection."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mirset")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
