"""Pipeline transforms: loading, text that follows geometry, task sequences, packing.

Geometry (resize, flip, crop, pad) is the OpenMMLab library's: mmcv's ``Resize`` and
``RandomFlip`` on plain box arrays (``LoadRegions(box_type=None)``, what the shipped
pretraining, REC and captioning pipelines use: no compiled ops needed), or mmdet's
``'mmdet.Resize'``, ``'mmdet.RandomCrop'``, ``'mmdet.Pad'``, ... on ``HorizontalBoxes``
(``LoadRegions()``). The boxes move with the image and the region texts follow through
``gt_bboxes_labels``.
"""
from .detection import BuildDetectionSequence
from .formatting import PackLocCaInputs
from .loading import LoadImage, LoadRegions
from .regions import SampleRegions
from .sequences import BuildTaskSequences
from .text import SwapLeftRight, swap_left_right

__all__ = [
    'LoadImage', 'LoadRegions', 'SwapLeftRight', 'swap_left_right', 'SampleRegions',
    'BuildTaskSequences', 'BuildDetectionSequence', 'PackLocCaInputs'
]
