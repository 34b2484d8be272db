"""locca_mm.apis: using models on images outside a runner.

:class:`LocCaInferencer` captions, locates, describes and detects on images
(``tools/infer.py``); :mod:`.pseudo_labeler` labels image–text pairs with region boxes from an
open-vocabulary detector (the paper's data recipe; ``tools/pseudo_label.py``).
"""
from .inferencer import LocCaInferencer, parse_box
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
    'LocCaInferencer', 'parse_box', 'STOPWORDS', 'extract_queries', 'Detections',
    'OpenVocabDetector', 'OwlViTDetector', 'MMDetGroundingDetector', 'PseudoLabeler',
    'read_pairs'
]
