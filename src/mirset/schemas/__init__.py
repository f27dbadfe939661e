"""Field definitions and the assembled Arrow schema of the track table."""

from mirset.schemas.fields import FeatureField
from mirset.schemas.table import identity_fields, table_schema

__all__ = ["FeatureField", "identity_fields", "table_schema"]
