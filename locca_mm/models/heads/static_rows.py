"""LocCaHead's training losses in static shapes (``LocCaHead(static_shapes=True)``).

What ``torch.compile`` (one graph, no graph break) and CUDA graphs need: no tensor
shape that depends on the data and no value read back to the host during the step.
The default, dynamic layout (:meth:`LocCaHead.loss`) pads each task's rows to the
batch's longest, runs the parallel-prediction Cap rows apart from the causal ones
(a data-dependent split) and computes the vocabulary projection at the target
positions only (a data-dependent count). Here instead, as big_vision lays a batch out:

- a task's rows are padded to a multiple of ``shape_bucket`` (16) tokens, at most
  the task's ``max_length`` (the tokenizer's): a few shapes per task, each compiled
  once, and short region rows are not computed at the caption's length;
- the Cap rows run in one decoder call whatever the parallel draw, at the caption
  ``max_length`` (a parallel row's length must not depend on its text): a per-row
  attention mask makes each row causal or fully parallel as drawn (the draw is the
  dynamic layout's, from the same random stream);
- tasks of the same length (ARef and GCap) share one decoder call, and all calls
  one token-embedding lookup;
- the loss is taken over every position with the non-target ones ignored, and the
  token count stays a tensor.

The losses equal the dynamic layout's up to float rounding: padding added after a
causal row's end is never attended to by its real positions, and a parallel row
has the same length (``max_length``) in both layouts. The price is compute on
padding (a short caption is computed at ``max_length``), which a compiled step on
a GPU repays; the eager default stays dynamic.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from locca_mm.structures import TaskBatch

from ..text import VisualMemory

__all__ = ['static_losses', 'masked_loss_sum', 'ce_sum', 'gaussian_loc_loss', 'row_length',
           'bucketed']


def static_losses(head, memory: VisualMemory, batches: Dict[str, TaskBatch],
                  tasks: Sequence[str]) -> Dict[str, Tensor]:
    """task -> weighted loss of those of ``tasks`` that have rows, in static shapes (module
    docstring).

    Args:
        head: the :class:`LocCaHead`.
        memory: visual memory of the B images.
        batches: task -> rows (a task may be absent or have no rows: left out).
        tasks: the tasks to compute, in the head's order (the parallel draw's order).
    """
    groups: Dict[int, List[Tuple[str, Optional[Tensor]]]] = {}
    for task in tasks:
        batch = batches.get(task)
        if batch is not None and batch.num_rows:
            flags = head._parallel_rows(task, batch)
            groups.setdefault(row_length(head, task, batch, flags), []).append((task, flags))
    calls = []
    for length, members in groups.items():
        group = [t for t, _ in members]
        parts = [batches[t].pad_to(length, head.pad_id) for t in group]
        flags = [f for _, f in members]
        tokens = torch.cat([b.tokens for b in parts]) if len(parts) > 1 else parts[0].tokens
        calls.append((group, parts, tokens, _join_flags(flags, parts)))
    embeds = head.decoder.embed_inputs(
        [head.decoder.shifted_inputs(tokens, par) for _, _, tokens, par in calls])
    losses = {}
    for (group, parts, tokens, par), embed in zip(calls, embeds):
        logits = head.decoder(tokens, memory.index_select(_join_rows(parts)), parallel=par,
                              input_embeds=embed)
        for task, part, out in zip(group, parts, logits.split([b.num_rows for b in parts])):
            losses[task] = head._weighted(task, *masked_loss_sum(head, out, part))
    return losses


def row_length(head, task: str, batch: TaskBatch, parallel: Optional[Tensor]) -> int:
    """The static row length of a task's rows: its ``max_length`` when some may be
    parallel (``parallel`` drawn), else the batch's length rounded up to a multiple of
    ``head.shape_bucket``, at most ``max_length``."""
    longest = head.tokenizer.max_length[task]
    if parallel is not None:
        return longest
    return bucketed(batch.tokens.shape[1], head.shape_bucket, longest)


def bucketed(length: int, bucket: int, longest: int) -> int:
    """``length`` rounded up to a multiple of ``bucket``, at most ``longest`` (and at least
    ``length``)."""
    return max(length, min(longest, -(-length // bucket) * bucket))


def _join_flags(flags: List[Optional[Tensor]], parts: List[TaskBatch]) -> Optional[Tensor]:
    """The parallel flags of the concatenated rows (None when no task draws any)."""
    if all(f is None for f in flags):
        return None
    return torch.cat([f if f is not None else
                      torch.zeros(b.num_rows, dtype=torch.bool, device=b.tokens.device)
                      for f, b in zip(flags, parts)])


def _join_rows(parts: List[TaskBatch]) -> Optional[Tensor]:
    """The image index of the concatenated rows (None: one row per image, in order)."""
    if len(parts) == 1:
        return parts[0].rows
    return torch.cat([b.rows if b.rows is not None else
                      torch.arange(b.num_rows, device=b.tokens.device) for b in parts])


def masked_loss_sum(head, logits: Tensor, batch: TaskBatch) -> Tuple[Tensor, Tensor]:
    """(summed cross-entropy, number of target tokens as a tensor) of ``logits [R, T, V]``
    at every position, the non-target ones ignored: no data-dependent shape."""
    mask = batch.loss_mask(head.pad_id)
    targets = batch.tokens.masked_fill(~mask, -100).flatten()
    logits = logits.flatten(0, 1).float()
    if not head.loc_sigma:
        return ce_sum(head, logits, targets), mask.sum()
    is_loc = head.tokenizer.text_tokenizer.is_loc(batch.tokens.flatten()) & mask.flatten()
    plain = ce_sum(head, logits, targets.masked_fill(is_loc, -100))
    return plain + gaussian_loc_loss(head, logits, batch.tokens.flatten(), is_loc), mask.sum()


def ce_sum(head, logits: Tensor, targets: Tensor) -> Tensor:
    """Summed cross-entropy of ``logits [N, V]`` against ``targets [N]`` (-100: ignored) with
    the head's label smoothing: the plain part of every task loss, in both layouts."""
    return F.cross_entropy(logits, targets, ignore_index=-100,
                           label_smoothing=head.label_smoothing, reduction='sum')


def gaussian_loc_loss(head, logits: Tensor, targets: Tensor,
                      weight: Optional[Tensor] = None) -> Tensor:
    """Summed cross-entropy of location logits [L, V] against Gaussians (width
    ``head.loc_sigma`` bins) around their target bins; ``weight`` (bool or float [L])
    counts only some rows (their targets may then be any token)."""
    vocab = head.tokenizer.text_tokenizer
    loc_logp = logits.log_softmax(-1)[:, vocab.loc_offset:vocab.vocab_size]  # [L, K]
    num_bins = head.tokenizer.num_bins
    bins = (targets - vocab.loc_offset).clamp(0, num_bins - 1).float()
    k = torch.arange(num_bins, device=logits.device, dtype=torch.float32)
    soft = (-(k[None] - bins[:, None])**2 / (2 * head.loc_sigma**2)).softmax(-1)
    per_row = -(soft * loc_logp).sum(-1)
    if weight is not None:
        per_row = per_row * weight.to(per_row.dtype)
    return per_row.sum()
