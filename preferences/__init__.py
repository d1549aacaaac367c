"""Organization-defined preference schema and per-subscription values."""
