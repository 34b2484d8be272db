"""TextTokenizer: the vocabulary layout every text tokenizer shares.

Ids are laid out as ``[text ids + special ids | <loc_0> .. <loc_{K-1}>]``: the
location tokens are the last ``K = num_bins`` ids, so the decoder's
embedding has ``vocab_size`` rows and a box bin ``k`` is the id
``loc_offset + k`` whatever text tokenizer sits underneath.
"""
from abc import ABCMeta, abstractmethod
from typing import Iterable, List, Optional, Sequence, Union

import torch
from torch import Tensor

IdsLike = Union[Sequence[int], Tensor]


class TextTokenizer(metaclass=ABCMeta):
    """Base class of the text tokenizers: specials, location tokens, decoding.

    A subclass loads its text model, works out its special ids and calls
    ``super().__init__``; it implements only :meth:`_encode_text` and
    :meth:`_decode_text` over its own (text) ids.

    Args:
        num_bins (int): K, the number of location tokens ``<loc_k>``
            appended after the text vocabulary (the box tokenizer's number of
            bins; :class:`LocCaTokenizer` sets it). Defaults to 0.
        loc_offset (int): Id of ``<loc_0>``: the size of the text vocabulary,
            special ids included.
        pad_id, bos_id, eos_id, mask_id (int): Distinct ids below ``loc_offset``.
        unk_id (int, optional): The unknown-piece id, if the model has one.
        lowercase (bool): Lower-case text before encoding. Defaults to False.
        non_text_ids (Iterable[int]): Further ids that never belong in
            generated text (control pieces of the underlying model).
    """

    def __init__(self,
                 num_bins: int,
                 *,
                 loc_offset: int,
                 pad_id: int,
                 bos_id: int,
                 eos_id: int,
                 mask_id: int,
                 unk_id: Optional[int] = None,
                 lowercase: bool = False,
                 non_text_ids: Iterable[int] = ()):
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 0:
            raise ValueError(f'num_bins must be an int >= 0, got {num_bins!r}')
        specials = dict(pad_id=pad_id, bos_id=bos_id, eos_id=eos_id, mask_id=mask_id)
        if len(set(specials.values())) != 4:
            raise ValueError(f'special ids must be distinct, got {specials}')
        for name, idx in specials.items():
            if not 0 <= idx < loc_offset:
                raise ValueError(f'{name}={idx} is outside the text vocabulary [0, {loc_offset})')
        self.num_bins = num_bins
        self.loc_offset = loc_offset
        self.pad_id, self.bos_id, self.eos_id, self.mask_id = pad_id, bos_id, eos_id, mask_id
        self.unk_id = unk_id
        self.lowercase = lowercase
        self.special_ids = frozenset(specials.values())
        extra = set(non_text_ids) | ({unk_id} if unk_id is not None else set())
        self._non_text_ids = frozenset(extra - self.special_ids)

    @property
    def vocab_size(self) -> int:
        """Rows of the embedding matrix: text, specials and location tokens."""
        return self.loc_offset + self.num_bins

    # -- what a subclass provides ------------------------------------------------------------

    @abstractmethod
    def _encode_text(self, text: str) -> List[int]:
        """Ids of ``text`` in the underlying model, no specials added."""

    @abstractmethod
    def _decode_text(self, ids: List[int]) -> str:
        """Text of a run of text ids (no special or location ids among them)."""

    # -- text ----------------------------------------------------------------------------------

    def encode(self, text: str) -> List[int]:
        """Text ids of ``text``; no bos/eos. ``"<loc_5>"`` in text stays text."""
        if not isinstance(text, str):
            raise TypeError(f'encode expects a str, got {type(text).__name__}')
        return self._encode_text(text.lower() if self.lowercase else text)

    @staticmethod
    def loc_token(k: int) -> str:
        """How location token ``k`` is written in decoded text."""
        return f'<loc_{k}>'

    def decode(self, ids: IdsLike) -> str:
        """Text of ``ids: [T]``: stops at the first eos, drops pad/bos/mask.

        Location ids come out as ``<loc_k>``. Text ids are decoded in runs
        between location tokens, so merges of the underlying model apply
        within a run as they do in :meth:`encode`.
        """
        ids = self._as_id_list(ids)
        pieces, run = [], []
        for idx in ids:
            if idx == self.eos_id:
                break
            if not 0 <= idx < self.vocab_size:
                raise ValueError(f'id {idx} is outside the vocabulary [0, {self.vocab_size})')
            if idx in self.special_ids:
                continue
            if idx >= self.loc_offset:
                if run:
                    pieces.append(self._decode_text(run))
                    run = []
                pieces.append(self.loc_token(idx - self.loc_offset))
            else:
                run.append(idx)
        if run:
            pieces.append(self._decode_text(run))
        return ''.join(pieces)

    def batch_decode(self, ids: Tensor) -> List[str]:
        """:meth:`decode` of each row of ``ids: [B, T]``."""
        if ids.dim() != 2:
            raise ValueError(f'batch_decode expects ids of shape [B, T], got {tuple(ids.shape)}')
        return [self.decode(row) for row in ids]

    @staticmethod
    def _as_id_list(ids: IdsLike) -> List[int]:
        if isinstance(ids, Tensor):
            if ids.dim() != 1:
                raise ValueError(f'decode expects ids of shape [T], got {tuple(ids.shape)}')
            return ids.tolist()
        return [int(i) for i in ids]

    # -- location tokens -------------------------------------------------------------------

    def loc_ids(self, bins: Tensor) -> Tensor:
        """Location token ids of ``bins: [...]`` (LongTensor in ``[0, K)``), same shape."""
        bins = torch.as_tensor(bins, dtype=torch.long)
        bad = (bins < 0) | (bins >= self.num_bins)
        if bad.any():
            raise ValueError(f'location bins must lie in [0, {self.num_bins}), '
                             f'got {bins[bad].tolist()} (num_bins={self.num_bins})')
        return bins + self.loc_offset

    def loc_bins(self, ids: Tensor) -> Tensor:
        """Bins ``[...]`` of location token ``ids: [...]``; ValueError for other ids."""
        ids = torch.as_tensor(ids, dtype=torch.long)
        not_loc = ~self.is_loc(ids)
        if not_loc.any():
            raise ValueError(f'not location token ids: {ids[not_loc].tolist()} '
                             f'(location ids are [{self.loc_offset}, {self.vocab_size}))')
        return ids - self.loc_offset

    def is_loc(self, ids: Tensor) -> Tensor:
        """BoolTensor ``[...]``: which of ``ids: [...]`` are location tokens."""
        ids = torch.as_tensor(ids)
        return (ids >= self.loc_offset) & (ids < self.vocab_size)

    def text_token_mask(self) -> Tensor:
        """BoolTensor ``[vocab_size]``: ids that may be generated as text.

        Every text id; not pad/bos/eos/mask, not the unknown piece or other
        control ids, not location ids. A decoding constraint adds eos where
        the sequence may end.
        """
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        mask[:self.loc_offset] = True
        off = sorted(self.special_ids | self._non_text_ids)
        mask[torch.tensor(off, dtype=torch.long)] = False
        return mask

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(vocab_size={self.vocab_size}, '
                f'num_bins={self.num_bins}, pad_id={self.pad_id}, '
                f'bos_id={self.bos_id}, eos_id={self.eos_id}, mask_id={self.mask_id})')


def append_missing_specials(found: dict, next_id: int) -> dict:
    """Give each special whose id is None the next free id, in pad, bos, eos, mask order.

    Args:
        found (dict): ``{'pad_id': int | None, 'bos_id': ..., 'eos_id': ..., 'mask_id': ...}``.
        next_id (int): First id after the underlying model's vocabulary.

    Returns:
        dict: The four ids plus ``'loc_offset'``, the first id after them.
    """
    ids = {}
    for name in ('pad_id', 'bos_id', 'eos_id', 'mask_id'):
        if found.get(name) is None:
            ids[name] = next_id
            next_id += 1
        else:
            ids[name] = found[name]
    ids['loc_offset'] = next_id
    return ids
