"""``python -m mirset`` runs the ``mirset`` command."""

from mirset.cli import entry

entry()
