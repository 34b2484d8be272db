"""locca_mm.models."""
