"""locca_mm.apis: using models on images outside a runner.

:class:`LocCaInferencer` captions, locates, describes and detects on images
(``tools/infer.py``); the task-named inferencers take mmpretrain's call shapes:
:class:`ImageCaptionInferencer` (images -> captions),
:class:`VisualGroundingInferencer` (images, texts -> boxes),
:class:`GroundedCaptionInferencer` (images, boxes -> texts),
:class:`GroundedDetectionInferencer` (images -> boxes with texts) and
:class:`FeatureInferencer` (images -> encoder tokens or pooled vectors).
:mod:`.pseudo_labeler` labels image–text pairs with region boxes from an
open-vocabulary detector (the paper's data recipe; ``tools/pseudo_label.py``).
"""
from .inferencer import LocCaInferencer
from .inputs import parse_box
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
from .task_inferencers import (
    FeatureInferencer,
    GroundedCaptionInferencer,
    GroundedDetectionInferencer,
    ImageCaptionInferencer,
    VisualGroundingInferencer,
)

__all__ = [
    'LocCaInferencer', 'ImageCaptionInferencer', 'VisualGroundingInferencer',
    'GroundedCaptionInferencer', 'GroundedDetectionInferencer', 'FeatureInferencer', 'parse_box',
    'STOPWORDS', 'extract_queries', 'Detections',
    'OpenVocabDetector', 'OwlViTDetector', 'MMDetGroundingDetector', 'PseudoLabeler',
    'read_pairs'
]
