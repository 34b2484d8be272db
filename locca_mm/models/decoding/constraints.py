"""Token constraints: per row and step, which tokens may come next (a logit mask), so a
referring expression always decodes to exactly four location tokens forming a valid box,
and text never contains location tokens."""
from typing import Sequence

import torch
from torch import Tensor

__all__ = ['DecodeConstraint', 'TextConstraint', 'BoxConstraint', 'GroundedCaptionConstraint']


class DecodeConstraint:
    """Which tokens may be generated next. Subclasses implement :meth:`allowed`."""

    def allowed(self, generated: Tensor, step: int) -> Tensor:
        """generated: [B, step] tokens so far -> bool [B, V] (True = allowed)."""
        raise NotImplementedError


class TextConstraint(DecodeConstraint):
    """Free text: any text token, then ``eos``; never location or other special tokens.

    Args:
        text_mask: bool [V], True for text tokens (``TextTokenizer.text_token_mask()``).
        eos_id (int): End-of-sequence id, allowed from step ``min_tokens`` on.
        min_tokens (int): Fewest text tokens before ``eos``. Defaults to 1.
    """

    def __init__(self, text_mask: Tensor, eos_id: int, min_tokens: int = 1):
        self.text_mask = text_mask.clone()
        self.with_eos = text_mask.clone()
        self.with_eos[eos_id] = True
        self.min_tokens = min_tokens

    def allowed(self, generated: Tensor, step: int) -> Tensor:
        mask = self.with_eos if step >= self.min_tokens else self.text_mask
        return mask.to(generated.device)[None].expand(generated.shape[0], -1)


class BoxConstraint(DecodeConstraint):
    """Exactly four location tokens, then ``eos``; the box is never inverted.

    Boxes are written (a1, b1, a2, b2) — (y1, x1, y2, x2) or (x1, y1, x2, y2) —
    so in either order the third token must be ≥ the first and the fourth ≥
    the second. Every decode is therefore a valid box inside the image.

    Args:
        loc_offset (int): Id of ``<loc_0>``.
        num_bins (int): Number of location tokens K.
        vocab_size (int): V.
        eos_id (int): End-of-sequence id.
    """

    def __init__(self, loc_offset: int, num_bins: int, vocab_size: int, eos_id: int):
        self.loc_offset, self.num_bins, self.vocab_size = loc_offset, num_bins, vocab_size
        self.eos_id = eos_id

    def allowed(self, generated: Tensor, step: int) -> Tensor:
        b, device = generated.shape[0], generated.device
        mask = torch.zeros(b, self.vocab_size, dtype=torch.bool, device=device)
        if step >= 4:
            mask[:, self.eos_id] = True
            return mask
        ids = torch.arange(self.vocab_size, device=device)
        lower = torch.full((b, 1), self.loc_offset, device=device)
        if step >= 2:
            lower = generated[:, step - 2:step - 1]
        return (ids[None] >= lower) & (ids[None] < self.loc_offset + self.num_bins)


class GroundedCaptionConstraint(DecodeConstraint):
    """A box, then the separator, then text: GCap without a given box (detection).

    Steps 0-3 follow ``box``; the next ``len(separator)`` steps are forced to
    the separator's tokens; the rest follows ``text`` (text tokens, then eos).
    """

    def __init__(self, box: BoxConstraint, separator: Sequence[int], text: TextConstraint):
        self.box, self.separator, self.text = box, list(separator), text

    def allowed(self, generated: Tensor, step: int) -> Tensor:
        if step < 4:
            return self.box.allowed(generated, step)
        k = step - 4
        if k < len(self.separator):
            mask = torch.zeros(generated.shape[0], self.box.vocab_size, dtype=torch.bool,
                               device=generated.device)
            mask[:, self.separator[k]] = True
            return mask
        start = 4 + len(self.separator)
        return self.text.allowed(generated[:, start:], k - len(self.separator))
