"""Losses."""
from .contrastive import clip_loss, gather_features, siglip_loss
from .self_distillation import (
                                distillation_loss,
                                masked_prediction_loss,
                                random_token_mask,
                                teacher_targets,
                                update_center,
)

__all__ = [
    'clip_loss', 'siglip_loss', 'gather_features', 'distillation_loss',
    'masked_prediction_loss', 'random_token_mask', 'teacher_targets', 'update_center'
]
