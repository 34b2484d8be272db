"""Necks that connect LocCaViT to mmdet, mmseg and mmpretrain heads."""
from .map_neck import MAPNeck
from .simple_fpn import SimpleFPN

__all__ = ['SimpleFPN', 'MAPNeck']
