"""Text models: the text towers (:class:`TextEncoder`, :class:`SigLIPTextEncoder`), the
cross-attending decoder and the converter of big_vision CapPa decoders (:mod:`.converters`)."""
from .blocks import DecoderBlock, TextTransformer
from .converters import ConvertedDecoder, big_vision_cappa_to_locca, build_text_decoder
from .memory import VisualMemory
from .siglip_text import SigLIPTextEncoder
from .text_decoder import CaptionAndEmbedding, TextDecoder
from .text_encoder import TextEncoder

__all__ = [
    'TextEncoder', 'SigLIPTextEncoder', 'TextDecoder', 'TextTransformer', 'DecoderBlock',
    'VisualMemory', 'CaptionAndEmbedding', 'ConvertedDecoder', 'big_vision_cappa_to_locca',
    'build_text_decoder'
]
