"""locca_mm.evaluation."""
