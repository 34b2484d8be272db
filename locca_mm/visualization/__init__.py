"""locca_mm.visualization."""
