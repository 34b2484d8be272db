"""DetectionConstraint: up to ``max_boxes`` box + text pairs after ``GCap:``, then eos.

The ``'detect_seq'`` prediction (:data:`~locca_mm.structures.tasks.PREDICT_TASKS`,
constraint kind ``'boxes_texts'``) writes every object of an image in one GCap
sequence, ``{box} : ␣{text} {box} : ␣{text} ... <eos>``. This constraint keeps
every decode parseable into complete pairs
(:func:`~locca_mm.tokenizers.detection.parse_detection_sequence`).
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from locca_mm.tokenizers.detection import DEFAULT_MAX_BOXES
from locca_mm.tokenizers.locca import BOX_LEN

from .constraints import DecodeConstraint

__all__ = ['DetectionConstraint', 'NameTrie']


class NameTrie:
    """The token sequences of a set of names, as a trie.

    Attributes:
        node_of (dict): tuple of ids (a prefix of some name) -> node index; ``()`` is the root.
        terminal (list[bool]): the node ends a name.
        children (list[Tensor]): the ids that may follow each node ``[C]``.
        child_dist (list[Tensor]): for each of those ids, the fewest tokens
            from that child to the end of a name ``[C]`` (0: the child ends one).
        min_len (int): tokens of the shortest name.
    """

    def __init__(self, names: Sequence[Sequence[int]]):
        if not names:
            raise ValueError('no names: give at least one (or None for free text)')
        if any(len(n) == 0 for n in names):
            raise ValueError('every name needs at least one token')
        self.node_of: Dict[Tuple[int, ...], int] = {(): 0}
        kids: List[Dict[int, int]] = [{}]
        self.terminal = [False]
        for name in names:
            node = 0
            for t in range(len(name)):
                key = tuple(name[:t + 1])
                if key not in self.node_of:
                    self.node_of[key] = len(kids)
                    kids[node][int(name[t])] = len(kids)
                    kids.append({})
                    self.terminal.append(False)
                node = self.node_of[key]
            self.terminal[node] = True
        dist = [0 if t else math.inf for t in self.terminal]
        for key in sorted(self.node_of, key=len, reverse=True):  # the deepest nodes first
            node = self.node_of[key]
            for child in kids[node].values():
                dist[node] = min(dist[node], dist[child] + 1)
        self.children = [torch.tensor(list(k), dtype=torch.long) for k in kids]
        self.child_dist = [torch.tensor([dist[c] for c in k.values()], dtype=torch.long)
                           for k in kids]
        self.min_len = int(dist[0])


class DetectionConstraint(DecodeConstraint):
    """Box + text pairs, at most ``max_boxes`` of them, then ``eos``, within a token budget.

    The states of a row, read from what it generated so far (so rows may be
    reordered between steps, as beam search does):

    - a box: 4 location tokens written (a1, b1, a2, b2) in the box
      tokenizer's order with a2 > a1 and b2 > b1 — stricter than
      :class:`~locca_mm.models.decoding.BoxConstraint` (a2 >= a1), so that no
      box has zero width or height;
    - the separator, forced token by token;
    - the text: with ``names``, a path of the token trie of the names (each
      spelled as the tokenizer spells a region text, ``' ' + name``); without,
      free text (any text token, at least one);
    - after a complete text (and at the start): the first location token of
      the next box, or ``eos``. With ``names``, a name that is also the start
      of a longer name may go on instead.

    After ``max_boxes`` pairs only ``eos`` may come. With ``max_new_tokens``
    a pair is started only if it can be finished and followed by ``eos``
    within the budget, a name only continued towards an end that fits, and
    free text only while ``eos`` still fits: every decode of at most
    ``max_new_tokens`` tokens ends with ``eos`` and parses into complete pairs.

    Args:
        loc_offset (int): id of ``<loc_0>``.
        num_bins (int): K, the number of location tokens (at least 2).
        vocab_size (int): V.
        eos_id (int): end-of-sequence id.
        separator (Sequence[int]): the separator's ids.
        text_mask (Tensor): bool [V], the text tokens (free text).
        names (Sequence[Sequence[int]], optional): the ids of each allowed text
            (kept as :attr:`names`: a decoded text's index is its class).
        max_boxes (int): most pairs. Defaults to 25.
        max_new_tokens (int, optional): the token budget of the decode; None: unbounded.
    """

    def __init__(self, loc_offset: int, num_bins: int, vocab_size: int, eos_id: int,
                 separator: Sequence[int], text_mask: Tensor,
                 names: Optional[Sequence[Sequence[int]]] = None,
                 max_boxes: int = DEFAULT_MAX_BOXES, max_new_tokens: Optional[int] = None):
        if num_bins < 2:
            raise ValueError(f'boxes of positive size need num_bins >= 2, got {num_bins}')
        if max_boxes < 1:
            raise ValueError(f'max_boxes must be >= 1, got {max_boxes}')
        self.loc_offset, self.num_bins, self.vocab_size = loc_offset, num_bins, vocab_size
        self.eos_id, self.separator = eos_id, torch.tensor(list(separator), dtype=torch.long)
        self.text_mask = text_mask.clone()
        self.names = None if names is None else [[int(t) for t in n] for n in names]
        self.trie = NameTrie(self.names) if names is not None else None
        self.max_boxes, self.max_new_tokens = max_boxes, max_new_tokens
        text_len = self.trie.min_len if self.trie is not None else 1
        #: Tokens of the shortest pair, eos after it included.
        self.min_pair = BOX_LEN + len(self.separator) + text_len + 1

    @classmethod
    def for_tokenizer(cls, tokenizer, classes: Optional[Sequence[str]] = None,
                      max_boxes: int = DEFAULT_MAX_BOXES, max_new_tokens: Optional[int] = None
                      ) -> 'DetectionConstraint':
        """The constraint for a :class:`LocCaTokenizer`; ``classes``: the allowed texts
        (category names, spelled ``' ' + name`` as region texts are), None for free text."""
        vocab = tokenizer.text_tokenizer
        names = None
        if classes is not None:
            names = []
            for name in classes:
                if not isinstance(name, str) or not name.strip():
                    raise ValueError(f'class names must be non-empty strings, got {name!r}')
                names.append(vocab.encode(' ' + name.strip()))
        return cls(vocab.loc_offset, tokenizer.num_bins, vocab.vocab_size, vocab.eos_id,
                   vocab.encode(tokenizer.separator), vocab.text_token_mask(), names,
                   max_boxes, max_new_tokens)

    def allowed(self, generated: Tensor, step: int) -> Tensor:
        """generated: [N, step] tokens so far -> bool [N, V] (True = allowed)."""
        n, device = generated.shape[0], generated.device
        mask = torch.zeros(n, self.vocab_size, dtype=torch.bool, device=device)
        rem = math.inf if self.max_new_tokens is None else self.max_new_tokens - step
        if step == 0:
            rows = torch.arange(n, device=device)
            self._open(mask, rows, torch.zeros_like(rows), rem)
            return mask
        is_loc = (generated >= self.loc_offset) & (generated < self.loc_offset + self.num_bins)
        n_loc = is_loc.sum(1)
        pos = torch.arange(step, device=device)
        last_loc = torch.where(is_loc, pos, torch.full_like(pos, -1)).max(1).values
        since = step - 1 - last_loc  # tokens after the last location token
        in_box = n_loc % BOX_LEN != 0
        started = ~in_box & (n_loc > 0)
        in_sep = started & (since < len(self.separator))
        self._box(mask, in_box.nonzero()[:, 0], n_loc % BOX_LEN, generated, step)
        rows = in_sep.nonzero()[:, 0]
        mask[rows, self.separator.to(device)[since[rows]]] = True
        rows = (n_loc == 0).nonzero()[:, 0]
        self._open(mask, rows, n_loc[rows] // BOX_LEN, rem)
        rows = (started & ~in_sep).nonzero()[:, 0]
        self._text(mask, rows, generated, last_loc + 1 + len(self.separator), n_loc, step, rem)
        return mask

    def _loc_range(self, mask: Tensor, rows: Tensor, low: Tensor, high: int) -> None:
        """Allow location ids in [low, high) (``low`` per row) on ``rows``."""
        ids = torch.arange(self.vocab_size, device=mask.device)[None]
        mask[rows] |= (ids >= low[:, None]) & (ids < high)

    def _box(self, mask: Tensor, rows: Tensor, k: Tensor, generated: Tensor, step: int) -> None:
        """Rows inside a box with ``k`` (1..3) location tokens written: the next one."""
        if len(rows) == 0:
            return
        k = k[rows]
        end = self.loc_offset + self.num_bins
        first = rows[k == 1]  # the second coordinate, room left for a larger fourth
        self._loc_range(mask, first, torch.full_like(first, self.loc_offset), end - 1)
        later = rows[k >= 2]  # the third (fourth) beats the first (second)
        if len(later):
            self._loc_range(mask, later, generated[later, step - 2] + 1, end)

    def _open(self, mask: Tensor, rows: Tensor, pairs: Tensor, rem: float) -> None:
        """Rows between pairs: eos, or a new box when one more pair (then eos) fits."""
        if len(rows) == 0:
            return
        mask[rows, self.eos_id] = True
        if rem < self.min_pair:
            return
        rows = rows[pairs < self.max_boxes]
        low = torch.full_like(rows, self.loc_offset)
        self._loc_range(mask, rows, low, self.loc_offset + self.num_bins - 1)

    def _text(self, mask: Tensor, rows: Tensor, generated: Tensor, start: Tensor,
              n_loc: Tensor, step: int, rem: float) -> None:
        """Rows in a pair's text, which began at ``start``: its next token, or what ends it."""
        if len(rows) == 0:
            return
        text_len = step - start[rows]
        if self.trie is None:  # free text: one token at least; text goes on while eos fits
            if rem >= 2:
                mask[rows] |= self.text_mask.to(mask.device)[None]
            done = rows[text_len > 0]
            self._open(mask, done, n_loc[done] // BOX_LEN, rem)
            return
        ended = []
        for row, begin in zip(rows.tolist(), start[rows].tolist()):
            node = self.trie.node_of.get(tuple(generated[row, begin:step].tolist()))
            if node is None:  # not a name's prefix (a history this constraint did not allow)
                mask[row, self.eos_id] = True
                continue
            kids, dist = self.trie.children[node], self.trie.child_dist[node]
            mask[row, kids[dist + 2 <= rem].to(mask.device)] = True
            if self.trie.terminal[node]:
                ended.append(row)
        ended = torch.tensor(ended, dtype=torch.long, device=mask.device)
        self._open(mask, ended, n_loc[ended] // BOX_LEN, rem)
