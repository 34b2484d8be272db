"""locca_mm.datasets."""
