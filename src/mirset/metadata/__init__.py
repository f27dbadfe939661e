"""Track metadata: embedded tags (``tags``) and the optional online lookup (``lookup``)."""
