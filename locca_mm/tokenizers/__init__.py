"""Tokenizers: text (byte-level, CLIP BPE, SentencePiece, HF ``tokenizer.json``), boxes, task
sequences."""
from .base import TextTokenizer
from .box import BoxTokenizer
from .builder import build_tokenizer
from .byte import ByteTokenizer
from .clip_bpe import ClipBPETokenizer
from .hf import HFTokenizer
from .locca import LocCaTokenizer, TaskSequence
from .sentencepiece import SentencePieceTokenizer
from .word import WordTokenizer

__all__ = [
    'TextTokenizer', 'ByteTokenizer', 'ClipBPETokenizer', 'SentencePieceTokenizer', 'HFTokenizer',
    'BoxTokenizer', 'LocCaTokenizer', 'TaskSequence', 'build_tokenizer', 'WordTokenizer'
]
