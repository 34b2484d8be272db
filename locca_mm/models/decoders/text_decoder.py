"""Old import path of :mod:`locca_mm.models.text` (``TextDecoder``, ``VisualMemory``, ...)."""
from ..text import DecoderBlock, TextDecoder, TextEncoder, VisualMemory

__all__ = ['TextDecoder', 'TextEncoder', 'DecoderBlock', 'VisualMemory']
