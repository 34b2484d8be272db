"""Image-text contrastive losses: CLIP's softmax loss and SigLIP's sigmoid loss.

Both take L2-normalised embeddings of matching pairs (row i of ``image``
matches row i of ``text``). Under data parallelism every rank scores its own
images against the texts of all ranks and vice versa (features are gathered
with gradients), which equals the single-process loss on the global batch.
"""
from typing import Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor


def gather_features(image: Tensor, text: Tensor) -> Tuple[Tensor, Tensor, int]:
    """All ranks' features, with gradients to the local ones.

    Returns:
        (all_image [W*B, E], all_text [W*B, E], offset of this rank's rows).
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return image, text, 0
    from torch.distributed.nn.functional import all_gather
    all_image = torch.cat(all_gather(image), dim=0)
    all_text = torch.cat(all_gather(text), dim=0)
    return all_image, all_text, dist.get_rank() * image.shape[0]


def clip_loss(image: Tensor, text: Tensor, logit_scale: Tensor) -> Tensor:
    """Symmetric softmax cross-entropy (CLIP).

    Args:
        image, text: [B, E], L2-normalised.
        logit_scale: scalar, the inverse temperature (not its log).
    """
    all_image, all_text, offset = gather_features(image, text)
    labels = torch.arange(image.shape[0], device=image.device) + offset
    logits_per_image = logit_scale * image @ all_text.t()
    logits_per_text = logit_scale * text @ all_image.t()
    return (F.cross_entropy(logits_per_image, labels)
            + F.cross_entropy(logits_per_text, labels)) / 2


def siglip_loss(image: Tensor, text: Tensor, logit_scale: Tensor, logit_bias: Tensor) -> Tensor:
    """Pairwise sigmoid loss (SigLIP): -mean over images of sum_j log σ(z_ij · (s x_i·y_j + b)).

    z_ij = 1 for matching pairs, -1 otherwise.

    Args:
        image, text: [B, E], L2-normalised.
        logit_scale: scalar inverse temperature; logit_bias: scalar bias.
    """
    _, all_text, offset = gather_features(image, text)
    logits = logit_scale * image @ all_text.t() + logit_bias  # [B, W*B]
    labels = -torch.ones_like(logits)
    idx = torch.arange(image.shape[0], device=image.device)
    labels[idx, idx + offset] = 1.0
    return -F.logsigmoid(labels * logits).sum() / image.shape[0]
