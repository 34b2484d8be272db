"""Metrics."""
from locca_mm.registry import METRICS

from .caption_metric import CaptionMetric, caption_scores, python_ptb_tokenize
from .category_text import text_to_label
from .pretrain_evals import CaptionPerplexityMetric, FewShotProbeMetric, ZeroShotMetric, ridge_probe
from .refcoco_metric import RefCOCOMetric
from .task_metric import TaskMetric
from .text_classification import TextClassificationMetric, normalize_class_text

try:
    from .grounded_detection_metric import GroundedCaptionDetMetric
except ImportError as err:  # mmdet's evaluation imports mmcv's compiled ops
    _MISSING = f'{type(err).__name__}: {err}'

    @METRICS.register_module()
    class GroundedCaptionDetMetric:  # type: ignore[no-redef]
        """Stand-in registered when mmdet's ``CocoMetric`` cannot be imported."""

        def __init__(self, *args, **kwargs):
            raise ImportError(
                "GroundedCaptionDetMetric scores with mmdet's CocoMetric, which needs mmcv "
                f'with its compiled ops ({_MISSING}); reinstall with LOCCA_MMCV_OPS=1')

__all__ = [
    'RefCOCOMetric', 'CaptionMetric', 'caption_scores', 'python_ptb_tokenize',
    'GroundedCaptionDetMetric', 'text_to_label', 'TaskMetric', 'TextClassificationMetric',
    'normalize_class_text', 'FewShotProbeMetric', 'ZeroShotMetric', 'CaptionPerplexityMetric',
    'ridge_probe'
]
