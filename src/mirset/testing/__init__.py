"""Helpers that build tiny, randomly initialised models in the released on-disk formats."""
