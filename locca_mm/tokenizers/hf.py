"""HFTokenizer: a HuggingFace ``tokenizer.json`` through the ``tokenizers`` library."""
import os.path as osp
from typing import List

from locca_mm.registry import TOKENIZERS

from .base import TextTokenizer, append_missing_specials


@TOKENIZERS.register_module()
class HFTokenizer(TextTokenizer):
    """Text through a ``tokenizers.Tokenizer`` saved as ``tokenizer.json``.

    Text is encoded without the tokenizer's post-processor (no [CLS]/[SEP]),
    and its special tokens are not matched inside text, so ``"[PAD]"`` in a
    caption is spelled out like any other word. Special tokens found in the
    vocabulary are reused; missing ones get ids after it, then the location
    tokens follow. The tokenizer's own truncation and padding are switched
    off: lengths are the task sequences' business.

    Args:
        tokenizer_file (str): Path of ``tokenizer.json``.
        num_bins (int): Location tokens after the vocabulary. Defaults to 0.
        pad_token, bos_token, eos_token, mask_token (str): The specials' strings
            in the vocabulary. Default to '[PAD]', '[BOS]', '[EOS]', '[MASK]'.
        lowercase (bool): Lower-case text before encoding. Defaults to False.
    """

    def __init__(self,
                 tokenizer_file: str,
                 num_bins: int = 0,
                 pad_token: str = '[PAD]',
                 bos_token: str = '[BOS]',
                 eos_token: str = '[EOS]',
                 mask_token: str = '[MASK]',
                 lowercase: bool = False):
        from tokenizers import Tokenizer
        if not osp.isfile(tokenizer_file):
            raise FileNotFoundError(f'tokenizer file not found: {tokenizer_file}')
        self.tokenizer_file = tokenizer_file
        try:
            self.tokenizer = Tokenizer.from_file(tokenizer_file)
        except Exception as e:  # noqa: BLE001 - the library raises plain Exception
            raise ValueError(f'cannot load tokenizer {tokenizer_file}: {e}') from e
        self._configure()
        vocab = self.tokenizer.get_vocab(with_added_tokens=True)
        size = max(vocab.values(), default=-1) + 1
        found = dict(pad_id=vocab.get(pad_token), bos_id=vocab.get(bos_token),
                     eos_id=vocab.get(eos_token), mask_id=vocab.get(mask_token))
        unk_token = getattr(self.tokenizer.model, 'unk_token', None)
        special_added = [i for i, tok in self.tokenizer.get_added_tokens_decoder().items()
                         if tok.special]
        super().__init__(
            num_bins,
            **append_missing_specials(found, size),
            unk_id=vocab.get(unk_token) if unk_token else None,
            lowercase=lowercase,
            non_text_ids=special_added)

    def _configure(self) -> None:
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.tokenizer.encode_special_tokens = True

    def __setstate__(self, state: dict) -> None:
        # Pickling (data workers) keeps the vocabulary but not these settings.
        self.__dict__.update(state)
        self._configure()

    def _encode_text(self, text: str) -> List[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def _decode_text(self, ids: List[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)
