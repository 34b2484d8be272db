"""Heads: the multi-task captioning head, the contrastive head and the self-distillation
head."""
from locca_mm.structures import to_input_frame, to_original

from .contrastive_head import ContrastiveHead
from .locca_head import LocCaHead, zero_loss
from .self_distillation_head import SelfDistillationHead

# to_input_frame / to_original live in locca_mm.structures; importable from here as before.
__all__ = [
    'LocCaHead', 'ContrastiveHead', 'SelfDistillationHead', 'zero_loss', 'to_input_frame',
    'to_original'
]
