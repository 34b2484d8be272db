"""Vision encoders."""
from .encoder_block import EncoderBlock
from .locca_vit import LocCaViT

__all__ = ['LocCaViT', 'EncoderBlock']
