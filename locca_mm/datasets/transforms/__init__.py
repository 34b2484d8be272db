"""Pipeline transforms: loading, text that follows geometry, task sequences, packing.

Geometry (resize, flip, crop, pad) is mmdet's: ``type='mmdet.Resize'``,
``'mmdet.RandomFlip'``, ``'mmdet.RandomCrop'``, ``'mmdet.Pad'``; the boxes move
with the image and the region texts follow through ``gt_bboxes_labels``.
"""
from .formatting import PackLocCaInputs
from .loading import LoadImage, LoadRegions
from .regions import SampleRegions
from .sequences import BuildTaskSequences
from .text import SwapLeftRight, swap_left_right

__all__ = [
    'LoadImage', 'LoadRegions', 'SwapLeftRight', 'swap_left_right', 'SampleRegions',
    'BuildTaskSequences', 'PackLocCaInputs'
]
