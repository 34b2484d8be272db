"""locca_mm.apis: using models on images outside a runner.

:mod:`.pseudo_labeler` labels image–text pairs with region boxes from an
open-vocabulary detector (the paper's data recipe; ``tools/pseudo_label.py``).
"""
from .pseudo_labeler import (
    STOPWORDS,
    Detections,
    MMDetGroundingDetector,
    OpenVocabDetector,
    OwlViTDetector,
    PseudoLabeler,
    extract_queries,
    read_pairs,
)

__all__ = [
    'STOPWORDS', 'extract_queries', 'Detections', 'OpenVocabDetector', 'OwlViTDetector',
    'MMDetGroundingDetector', 'PseudoLabeler', 'read_pairs'
]
