"""locca_mm.apis: using models on images outside a runner.

:class:`LocCaInferencer` captions, locates, describes and detects on images
(``tools/infer.py``); the task-named inferencers take mmpretrain's call shapes:
:class:`ImageCaptionInferencer` (images -> captions),
:class:`VisualGroundingInferencer` (images, texts -> boxes),
:class:`GroundedCaptionInferencer` (images, boxes -> texts),
:class:`GroundedDetectionInferencer` (images -> boxes with texts) and
:class:`FeatureInferencer` (images -> encoder tokens or pooled vectors).
Labelling image–text pairs with region boxes is :mod:`locca_mm.labeling`.
"""
from .inferencer import LocCaInferencer
from .inputs import parse_box
from .task_inferencers import (
    FeatureInferencer,
    GroundedCaptionInferencer,
    GroundedDetectionInferencer,
    ImageCaptionInferencer,
    VisualGroundingInferencer,
)

__all__ = [
    'LocCaInferencer', 'ImageCaptionInferencer', 'VisualGroundingInferencer',
    'GroundedCaptionInferencer', 'GroundedDetectionInferencer', 'FeatureInferencer', 'parse_box'
]
