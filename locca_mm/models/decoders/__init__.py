"""Old import path of the text models: they live in :mod:`locca_mm.models.text`."""
from ..text import DecoderBlock, TextDecoder, TextEncoder, VisualMemory

__all__ = ['TextDecoder', 'TextEncoder', 'DecoderBlock', 'VisualMemory']
