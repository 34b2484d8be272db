"""locca_mm.datasets.transforms."""
