"""Losses."""
from .contrastive import clip_loss, gather_features, siglip_loss

__all__ = ['clip_loss', 'siglip_loss', 'gather_features']
