"""Tokenizers: text (byte-level, SentencePiece, HF ``tokenizer.json``), boxes, task sequences."""
from .base import TextTokenizer
from .box import BoxTokenizer
from .builder import build_tokenizer
from .byte import ByteTokenizer
from .hf import HFTokenizer
from .locca import LocCaTokenizer, TaskSequence
from .sentencepiece import SentencePieceTokenizer
from .word import WordTokenizer

__all__ = [
    'TextTokenizer', 'ByteTokenizer', 'SentencePieceTokenizer', 'HFTokenizer', 'BoxTokenizer',
    'LocCaTokenizer', 'TaskSequence', 'build_tokenizer', 'WordTokenizer'
]
