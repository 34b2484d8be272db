"""TaskBatch: the padded token rows of one task in a batch."""
from typing import NamedTuple, Optional, Sequence

import torch
from torch import Tensor


class TaskBatch(NamedTuple):
    """Rows of one task, right-padded to the task's own batch maximum.

    Attributes:
        tokens: [R, T] prompt + target tokens, padded with ``pad_id``.
        prefix_len: [R] number of leading tokens not trained on.
        rows: [R] image index of each row, or None when there is exactly one
            row per image, in batch order (the common case: no gather needed).
    """
    tokens: Tensor
    prefix_len: Tensor
    rows: Optional[Tensor]

    @property
    def num_rows(self) -> int:
        return self.tokens.shape[0]

    def loss_mask(self, pad_id: int) -> Tensor:
        """bool [R, T]: the target positions (after the prefix, not padding)."""
        pos = torch.arange(self.tokens.shape[1], device=self.tokens.device)
        return (pos[None] >= self.prefix_len[:, None]) & (self.tokens != pad_id)

    @classmethod
    def from_sequences(cls, sequences: Sequence, rows: Sequence[int], batch_size: int,
                       pad_id: int, device=None) -> 'TaskBatch':
        """Pad ``TaskSequence``s (``tokens``, ``prefix_len``) of images ``rows``."""
        tokens = torch.nn.utils.rnn.pad_sequence(
            [torch.as_tensor(s.tokens, dtype=torch.long) for s in sequences],
            batch_first=True, padding_value=pad_id)
        prefix_len = torch.tensor([int(s.prefix_len) for s in sequences], dtype=torch.long)
        index = None
        if list(rows) != list(range(batch_size)):
            index = torch.tensor(list(rows), dtype=torch.long, device=device)
        return cls(tokens.to(device), prefix_len.to(device), index)
