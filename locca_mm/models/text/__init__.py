"""Text models: the text tower (:class:`TextEncoder`) and the cross-attending decoder."""
from .blocks import DecoderBlock, TextTransformer
from .memory import VisualMemory
from .text_decoder import CaptionAndEmbedding, TextDecoder
from .text_encoder import TextEncoder

__all__ = [
    'TextEncoder', 'TextDecoder', 'TextTransformer', 'DecoderBlock', 'VisualMemory',
    'CaptionAndEmbedding'
]
