"""ByteTokenizer: UTF-8 bytes as tokens, the default that needs no model file."""
from typing import List

from locca_mm.registry import TOKENIZERS

from .base import TextTokenizer

# pad, bos, eos, mask take the first ids; byte b is id b + NUM_SPECIALS.
NUM_SPECIALS = 4


@TOKENIZERS.register_module()
class ByteTokenizer(TextTokenizer):
    """Every UTF-8 byte is a token: any text encodes, nothing is unknown.

    Ids: pad=0, bos=1, eos=2, mask=3, bytes 4..259, then the location tokens
    (``vocab_size = 260 + num_bins``). Sequences are longer than with a
    trained vocabulary, which suits the synthetic and toy configs.

    Args:
        num_bins (int): Location tokens after the bytes. Defaults to 0.
        lowercase (bool): Lower-case text before encoding. Defaults to False.
    """

    def __init__(self, num_bins: int = 0, lowercase: bool = False):
        super().__init__(num_bins,
                         loc_offset=NUM_SPECIALS + 256, pad_id=0, bos_id=1, eos_id=2,
                         mask_id=3, lowercase=lowercase)

    def _encode_text(self, text: str) -> List[int]:
        return [b + NUM_SPECIALS for b in text.encode('utf-8')]

    def _decode_text(self, ids: List[int]) -> str:
        # A generated (or truncated) sequence may end inside a character.
        return bytes(i - NUM_SPECIALS for i in ids).decode('utf-8', errors='replace')
