"""Vision encoders."""
from .locca_vit import EncoderBlock, LocCaViT

__all__ = ['LocCaViT', 'EncoderBlock']
