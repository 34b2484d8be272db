"""Heads: the multi-task captioning head and the contrastive head."""
from .contrastive_head import ContrastiveHead
from .locca_head import LocCaHead, to_input_frame, to_original

__all__ = ['LocCaHead', 'ContrastiveHead', 'to_input_frame', 'to_original']
