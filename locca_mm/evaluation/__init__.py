"""Evaluation: REC accuracy, caption BLEU/CIDEr, grounded-captioning detection mAP, and a
frozen-encoder linear dense probe."""
from .dense_probe import (
    encode_patches,
    fit_linear_probe,
    linear_dense_probe,
    mean_iou,
    patch_labels,
    position_share,
)
from .metrics import *  # noqa: F401,F403
from .metrics import __all__ as _metrics

__all__ = ['encode_patches', 'fit_linear_probe', 'linear_dense_probe', 'mean_iou',
           'patch_labels', 'position_share', *_metrics]
