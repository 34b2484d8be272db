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
        loss_end: [R] position where the trained tokens end (exclusive), or
            None when every row is trained to its end (``TaskSequence.loss_end``).
    """
    tokens: Tensor
    prefix_len: Tensor
    rows: Optional[Tensor]
    loss_end: Optional[Tensor] = None

    @property
    def num_rows(self) -> int:
        """R, the number of rows."""
        return self.tokens.shape[0]

    def loss_mask(self, pad_id: int) -> Tensor:
        """bool [R, T]: the target positions (after the prefix, before ``loss_end``, not
        padding)."""
        pos = torch.arange(self.tokens.shape[1], device=self.tokens.device)[None]
        mask = (pos >= self.prefix_len[:, None]) & (self.tokens != pad_id)
        if self.loss_end is not None:
            mask &= pos < self.loss_end[:, None]
        return mask

    def to(self, device) -> 'TaskBatch':
        """The same rows on ``device``."""
        def move(t):
            return None if t is None else t.to(device)

        return TaskBatch(*(move(t) for t in self))

    def pad_to(self, length: int, pad_id: int) -> 'TaskBatch':
        """The rows right-padded with ``pad_id`` to ``length`` tokens."""
        extra = length - self.tokens.shape[1]
        if extra < 0:
            raise ValueError(f'cannot pad {self.tokens.shape[1]} tokens to {length}')
        tokens = torch.nn.functional.pad(self.tokens, (0, extra), value=pad_id)
        return self._replace(tokens=tokens)

    def one_row_per_image(self, batch_size: int, pad_id: int) -> 'TaskBatch':
        """One row for each of ``batch_size`` images in image order (``rows`` None): an
        image without a row gets an empty one (all padding: nothing trained). Each
        image may have at most one row."""
        if self.rows is None:
            return self
        if len(set(self.rows.tolist())) < self.num_rows:
            raise ValueError('one_row_per_image: an image has several rows of this task')
        tokens = self.tokens.new_full((batch_size, self.tokens.shape[1]), pad_id)
        tokens[self.rows] = self.tokens
        prefix_len = self.prefix_len.new_zeros(batch_size)
        prefix_len[self.rows] = self.prefix_len
        loss_end = None
        if self.loss_end is not None:
            loss_end = self.loss_end.new_zeros(batch_size)
            loss_end[self.rows] = self.loss_end
        return TaskBatch(tokens, prefix_len, None, loss_end)

    def select(self, index: Tensor) -> 'TaskBatch':
        """Rows ``index`` ([K] long or bool [R]) of this batch; ``rows`` becomes explicit."""
        if index.dtype == torch.bool:
            index = index.nonzero().flatten()
        rows = index if self.rows is None else self.rows[index]
        return TaskBatch(self.tokens[index], self.prefix_len[index], rows,
                         None if self.loss_end is None else self.loss_end[index])

    @classmethod
    def from_sequences(cls, sequences: Sequence, rows: Sequence[int], batch_size: int,
                       pad_id: int, device=None) -> 'TaskBatch':
        """Pad ``TaskSequence``s (``tokens``, ``prefix_len``, ``loss_end``) of images ``rows``."""
        tokens = torch.nn.utils.rnn.pad_sequence(
            [torch.as_tensor(s.tokens, dtype=torch.long) for s in sequences],
            batch_first=True, padding_value=pad_id)
        prefix_len = torch.tensor([int(s.prefix_len) for s in sequences], dtype=torch.long)
        loss_end = None
        ends = [getattr(s, 'loss_end', None) for s in sequences]
        if any(e is not None for e in ends):
            loss_end = torch.tensor([len(s.tokens) if e is None else int(e)
                                     for s, e in zip(sequences, ends)], dtype=torch.long)
            loss_end = loss_end.to(device)
        index = None
        if list(rows) != list(range(batch_size)):
            index = torch.tensor(list(rows), dtype=torch.long, device=device)
        return cls(tokens.to(device), prefix_len.to(device), index, loss_end)
