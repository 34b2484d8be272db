"""Metrics."""
from .caption_metric import CaptionMetric, caption_scores, python_ptb_tokenize
from .grounded_detection_metric import GroundedCaptionDetMetric, text_to_label
from .refcoco_metric import RefCOCOMetric

__all__ = [
    'RefCOCOMetric', 'CaptionMetric', 'caption_scores', 'python_ptb_tokenize',
    'GroundedCaptionDetMetric', 'text_to_label'
]
