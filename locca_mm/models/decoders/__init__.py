"""Text decoders."""
from .text_decoder import DecoderBlock, TextDecoder, VisualMemory

__all__ = ['TextDecoder', 'DecoderBlock', 'VisualMemory']
