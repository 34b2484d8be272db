"""WordTokenizer: a closed word-level vocabulary, for synthetic and controlled data."""
import re
from typing import List, Sequence

from locca_mm.registry import TOKENIZERS

from .base import TextTokenizer

_PIECE = re.compile(r"[A-Za-z0-9']+|[^\sA-Za-z0-9']")
SPECIALS = ('<pad>', '<bos>', '<eos>', '<mask>', '<unk>')


@TOKENIZERS.register_module()
class WordTokenizer(TextTokenizer):
    """One token per word or punctuation mark of a given vocabulary.

    Ids: pad=0, bos=1, eos=2, mask=3, unk=4, then ``vocab`` in order, then
    the location tokens. Words outside ``vocab`` encode as ``<unk>``. Short
    sequences make the embedded synthetic default train several times faster
    than bytes would; real data wants SentencePiece.

    Args:
        vocab (Sequence[str]): the words and punctuation marks (task prefixes
            are split like text: ``'Cap:'`` needs ``'Cap'`` and ``':'``).
        num_bins (int): location tokens after the vocabulary.
        lowercase (bool): lower-case text (and the vocabulary). Defaults to True.
    """

    def __init__(self, vocab: Sequence[str], num_bins: int = 0, lowercase: bool = True):
        words = [w.lower() if lowercase else w for w in vocab]
        bad = [w for w in words if len(_PIECE.findall(w)) != 1]
        if bad:
            raise ValueError(f'vocabulary entries must be single words or marks, got {bad}')
        if len(set(words)) != len(words) or set(words) & set(SPECIALS):
            raise ValueError('vocabulary entries must be distinct and not special tokens')
        self.words = list(SPECIALS) + words
        self.index = {w: i for i, w in enumerate(self.words)}
        super().__init__(num_bins,
                         loc_offset=len(self.words), pad_id=0, bos_id=1, eos_id=2,
                         mask_id=3, unk_id=4, lowercase=lowercase)

    def _encode_text(self, text: str) -> List[int]:
        return [self.index.get(w, self.unk_id) for w in _PIECE.findall(text)]

    def _decode_text(self, ids: List[int]) -> str:
        text = ' '.join(self.words[i] for i in ids)
        return re.sub(r" ([^\sA-Za-z0-9'])", r'\1', text)
