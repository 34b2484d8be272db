"""Self-distillation losses of SigLIP 2's second stage: SILC's local-to-global consistency and
TIPS' masked prediction (both DINO / iBOT cross-entropies against a centred, sharpened teacher).

The teacher's logits are centred (a running mean is subtracted, which keeps one prototype
from taking every image) and sharpened by a low temperature into a target distribution; the
student's logits, at a higher temperature, are scored against it by cross-entropy.
"""
from typing import Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor


def teacher_targets(logits: Tensor, center: Tensor, temperature: float) -> Tensor:
    """softmax((logits - center) / temperature) over the last axis (no gradient flows)."""
    return F.softmax((logits.detach().float() - center) / temperature, dim=-1)


def distillation_loss(student_logits: Tensor, targets: Tensor, temperature: float) -> Tensor:
    """Local-to-global consistency (SILC): every student view against the teacher's target.

    Args:
        student_logits: [V, B, K], the student's logits of V views of each of B images.
        targets: [B, K], the teacher's target distribution of each image
            (:func:`teacher_targets`).
        temperature: the student's temperature.

    Returns:
        The cross-entropy ``-sum_k t_k log softmax(s / temperature)_k``, averaged over
        the V views and B images.
    """
    if student_logits.dim() != 3 or student_logits.shape[1:] != targets.shape:
        raise ValueError(f'student logits [V, B, K] {tuple(student_logits.shape)} do not '
                         f'match the targets [B, K] {tuple(targets.shape)}')
    logp = F.log_softmax(student_logits.float() / temperature, dim=-1)
    return -(targets[None] * logp).sum(-1).mean()


def masked_prediction_loss(student_logits: Tensor, targets: Tensor, mask: Tensor,
                           temperature: float) -> Tensor:
    """Masked prediction (iBOT / TIPS): the student's tokens of masked patches against the
    teacher's tokens of the same, unmasked patches.

    Args:
        student_logits: [B, N, K] of the masked image (only masked positions count).
        targets: [B, N, K], the teacher's per-patch target distributions.
        mask: bool [B, N], True where the student's patch was masked.
        temperature: the student's temperature.

    Returns:
        The per-patch cross-entropy averaged over each image's masked patches, then over
        the images that have any (iBOT's normalisation); 0 (with a graph) when no patch is
        masked.
    """
    if student_logits.shape != targets.shape or mask.shape != student_logits.shape[:2]:
        raise ValueError(f'shapes differ: student {tuple(student_logits.shape)}, targets '
                         f'{tuple(targets.shape)}, mask {tuple(mask.shape)}')
    logp = F.log_softmax(student_logits.float() / temperature, dim=-1)
    per_patch = -(targets * logp).sum(-1)  # [B, N]
    mask = mask.float()
    count = mask.sum(1)
    has = (count > 0).float()
    per_image = (per_patch * mask).sum(1) / count.clamp(min=1)
    return (per_image * has).sum() / has.sum().clamp(min=1)


@torch.no_grad()
def update_center(center: Tensor, logits: Tensor, momentum: float) -> None:
    """``center <- momentum * center + (1 - momentum) * mean(logits)`` in place; the mean
    runs over every row of ``logits`` (all leading axes) and, under data parallelism, over
    every rank's rows (DINO's ``update_center``)."""
    flat = logits.detach().float().reshape(-1, logits.shape[-1])
    total = flat.sum(0, keepdim=True)
    count = torch.tensor(float(flat.shape[0]), device=flat.device)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(total)
        dist.all_reduce(count)
    center.mul_(momentum).add_(total / count, alpha=1 - momentum)


def random_token_mask(batch: int, num_tokens: int, ratio: float, device=None,
                      generator: Optional[torch.Generator] = None) -> Tensor:
    """bool [batch, num_tokens]: exactly ``round(ratio * num_tokens)`` tokens of each row
    True, chosen uniformly at random (SigLIP 2 masks 50 % of the student's patches)."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f'mask ratio must be in [0, 1), got {ratio}')
    k = int(round(ratio * num_tokens))
    order = torch.rand(batch, num_tokens, device=device, generator=generator).argsort(1)
    mask = torch.zeros(batch, num_tokens, dtype=torch.bool, device=device)
    mask.scatter_(1, order[:, :k], True)
    return mask
