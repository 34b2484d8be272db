"""Text models: the text tower (:class:`TextEncoder`), the cross-attending decoder and the
converter of big_vision CapPa decoders (:mod:`.converters`)."""
from .blocks import DecoderBlock, TextTransformer
from .converters import ConvertedDecoder, big_vision_cappa_to_locca, build_text_decoder
from .memory import VisualMemory
from .text_decoder import CaptionAndEmbedding, TextDecoder
from .text_encoder import TextEncoder

__all__ = [
    'TextEncoder', 'TextDecoder', 'TextTransformer', 'DecoderBlock', 'VisualMemory',
    'CaptionAndEmbedding', 'ConvertedDecoder', 'big_vision_cappa_to_locca', 'build_text_decoder'
]
