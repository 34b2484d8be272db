"""SentencePieceTokenizer: a trained SentencePiece ``.model`` file."""
import os.path as osp
from typing import List

from locca_mm.registry import TOKENIZERS

from .base import TextTokenizer, append_missing_specials


def missing_model_message(model_file: str) -> str:
    """What a missing ``.model`` file is reported with: how to make one, or the ready choice."""
    prefix = model_file[:-len('.model')] if model_file.endswith('.model') else model_file
    return (
        f'SentencePiece model file not found: {model_file}\n'
        'Either train it on your captions (files: .txt one caption per line, .jsonl, or COCO '
        'captions .json):\n'
        '    python tools/dataset_converters/train_tokenizer.py CAPTIONS [CAPTIONS ...] '
        f'--out {prefix} --vocab-size 32000 [--lowercase]\n'
        f'  (it writes {prefix}.model), or use the ready CLIP BPE vocabulary, which needs no '
        'training (pip install open_clip_torch): in the LocCaTokenizer config\n'
        "    text_tokenizer=dict(type='ClipBPETokenizer'),\n"
        "  (in a config that inherits this one: dict(_delete_=True, type='ClipBPETokenizer')).")


@TOKENIZERS.register_module()
class SentencePieceTokenizer(TextTokenizer):
    """Text through a SentencePiece model (``tools/dataset_converters/train_tokenizer.py``
    makes one).

    The model's own pad/bos/eos ids are used when it defines them; each
    missing special (mask always, pad/bos/eos when absent) gets an id after
    the model's pieces, and the location tokens follow. The unknown piece
    and the model's control pieces are never generated as text.

    Args:
        model_file (str): Path of the ``.model`` file.
        num_bins (int): Location tokens after the vocabulary. Defaults to 0.
        lowercase (bool): Lower-case text before encoding. Defaults to False
            (a model trained with ``--lowercase`` folds case by itself).
    """

    def __init__(self, model_file: str, num_bins: int = 0, lowercase: bool = False):
        import sentencepiece as spm
        if not osp.isfile(model_file):
            raise FileNotFoundError(missing_model_message(model_file))
        self.model_file = model_file
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.Load(model_file)
        except (OSError, RuntimeError) as e:
            raise ValueError(f'cannot load SentencePiece model {model_file}: {e}') from e
        size = self.sp.get_piece_size()
        # sentencepiece reports an undefined special as -1.
        found = {name: (idx if idx >= 0 else None) for name, idx in (
            ('pad_id', self.sp.pad_id()), ('bos_id', self.sp.bos_id()),
            ('eos_id', self.sp.eos_id()))}
        unk = self.sp.unk_id()
        super().__init__(
            num_bins,
            **append_missing_specials(found, size),
            unk_id=unk if unk >= 0 else None,
            lowercase=lowercase,
            non_text_ids=[i for i in range(size) if self.sp.is_control(i)])

    def _encode_text(self, text: str) -> List[int]:
        return self.sp.encode(text, out_type=int)

    def _decode_text(self, ids: List[int]) -> str:
        # Ids appended after the model's pieces are specials, never in a text run.
        return self.sp.decode(ids)
