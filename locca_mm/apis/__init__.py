"""locca_mm.apis."""
