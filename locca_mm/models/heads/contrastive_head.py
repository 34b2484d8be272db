"""ContrastiveHead: image-text contrastive learning for the CoCa and CLIP/SigLIP baselines."""
import math
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from locca_mm.registry import MODELS
from locca_mm.structures import TaskBatch
from locca_mm.tokenizers.builder import build_tokenizer

from ..layers import AttentionPool
from ..losses import clip_loss, siglip_loss


@MODELS.register_module()
class ContrastiveHead(BaseModule):
    """Pools the visual tokens and the text into one space and scores their pairing.

    The image embedding is an attentional pooler (MAP, one query — CoCa's
    contrastive pooler) or the mean of the tokens (GAP), then a linear
    projection. The text embedding is the text-CLS output of a text tower:
    the unimodal layers of the captioning decoder (CoCa, passed in by the
    model) or this head's own ``text_encoder`` (a :class:`TextEncoder`,
    CLIP). Both are L2-normalised.

    Args:
        embed_dims (int): Width of the visual tokens (set by the model).
        text_dims (int, optional): Width of the text embedding. Defaults to the
            ``text_encoder``'s width, else ``embed_dims``.
        proj_dims (int, optional): Width of the joint space. Defaults to ``embed_dims``.
        loss_type (str): ``'softmax'`` (CLIP) or ``'sigmoid'`` (SigLIP).
        pool (str): ``'map'`` or ``'gap'``. Defaults to ``'map'``.
        num_heads (int): Heads of the MAP pooler. Defaults to 8.
        text_encoder (dict, optional): :class:`TextEncoder` config (CLIP); its
            ids come from ``tokenizer``.
        tokenizer: the model's :class:`LocCaTokenizer` (needed with ``text_encoder``).
        loss_weight (float): λ_con. Defaults to 1.
        init_logit_scale (float, optional): initial log inverse temperature;
            defaults to log(1/0.07) (softmax) or log(10) (sigmoid).
        init_logit_bias (float): initial bias of the sigmoid loss. Defaults to -10.
        max_logit_scale (float): clamp of the inverse temperature. Defaults to 100.
        with_proj (bool): Linear projections of both embeddings into the joint space
            (CLIP, CoCa). False: the pooled image and the text tower's output are the
            embeddings (SigLIP: its MAP head and text head end in the joint space); they
            must have one width. Defaults to True.
        pool_act_cfg (dict, optional), pool_mlp_ratio (float): the MAP pooler's MLP
            (None: the exact GELU; SigLIP's MAP head: the tanh GELU), ratio 4.
    """

    def __init__(self,
                 embed_dims: int,
                 text_dims: Optional[int] = None,
                 proj_dims: Optional[int] = None,
                 loss_type: str = 'softmax',
                 pool: str = 'map',
                 num_heads: int = 8,
                 text_encoder: Optional[dict] = None,
                 tokenizer=None,
                 loss_weight: float = 1.0,
                 init_logit_scale: Optional[float] = None,
                 init_logit_bias: float = -10.0,
                 max_logit_scale: float = 100.0,
                 with_proj: bool = True,
                 pool_act_cfg: Optional[dict] = None,
                 pool_mlp_ratio: float = 4.0,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if loss_type not in ('softmax', 'sigmoid'):
            raise ValueError(f"loss_type must be 'softmax' or 'sigmoid', got {loss_type!r}")
        if pool not in ('map', 'gap'):
            raise ValueError(f"pool must be 'map' or 'gap', got {pool!r}")
        self.loss_type, self.loss_weight = loss_type, loss_weight
        self.max_logit_scale = max_logit_scale
        self.text_encoder = None
        if text_encoder is not None:
            self.text_encoder = _build_text_encoder(text_encoder, tokenizer)
            text_dims = text_dims or self.text_encoder.embed_dims
        text_dims = text_dims or embed_dims
        proj_dims = proj_dims or embed_dims
        self.image_pool = AttentionPool(embed_dims, num_heads, num_queries=1,
                                        mlp_ratio=pool_mlp_ratio, act_cfg=pool_act_cfg) \
            if pool == 'map' else None
        if with_proj:
            self.image_proj = nn.Linear(embed_dims, proj_dims, bias=False)
            self.text_proj = nn.Linear(text_dims, proj_dims, bias=False)
        elif text_dims != embed_dims:
            raise ValueError(f'with_proj=False needs one width: image {embed_dims}, text '
                             f'{text_dims}')
        else:
            self.image_proj, self.text_proj = nn.Identity(), nn.Identity()
        if init_logit_scale is None:
            init_logit_scale = math.log(1 / 0.07) if loss_type == 'softmax' else math.log(10.0)
        # One-element vectors, not 0-d scalars: FSDP2 shards no 0-d parameter. Checkpoints
        # with 0-d ones load (_load_from_state_dict).
        self.logit_scale = nn.Parameter(torch.tensor([float(init_logit_scale)]))
        self.logit_bias = nn.Parameter(torch.tensor([float(init_logit_bias)])) \
            if loss_type == 'sigmoid' else None

    def image_embedding(self, visual: Tensor) -> Tensor:
        """visual: [B, N, D] -> [B, E], L2-normalised."""
        pooled = self.image_pool(visual)[:, 0] if self.image_pool is not None \
            else visual.mean(dim=1)
        return F.normalize(self.image_proj(pooled), dim=-1)

    def text_embedding(self, text_features: Optional[Tensor] = None,
                       captions: Optional[TaskBatch] = None) -> Tensor:
        """[B, E] L2-normalised, from given text-CLS features or from this head's encoder."""
        if text_features is None:
            if self.text_encoder is None or captions is None:
                raise ValueError('no text features: give the CoCa decoder text embedding or '
                                 'configure a text_encoder and pass the caption rows')
            text_features = self.text_encoder.text_embedding(
                strip_prefix(captions, self.text_encoder.pad_id))
        return F.normalize(self.text_proj(text_features), dim=-1)

    def inverse_temperature(self) -> Tensor:
        """``exp(logit_scale)`` clamped at ``max_logit_scale``: the ``s`` of the losses."""
        return self.logit_scale.exp().clamp(max=self.max_logit_scale)

    def logits(self, image: Tensor, text: Tensor) -> Tensor:
        """The pair logits ``s * image @ text.T (+ b)`` [B_img, B_txt] the loss scores
        (normalised embeddings in): zero-shot class scores."""
        logits = self.inverse_temperature() * image @ text.t()
        return logits if self.logit_bias is None else logits + self.logit_bias

    def loss(self, visual: Tensor, captions: Optional[TaskBatch] = None,
             text_features: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """``loss_con`` (weighted) and the current inverse temperature ``logit_scale``.

        Args:
            visual: [B, N, D] visual tokens.
            captions: the Cap rows, one per image in batch order.
            text_features: [B, Dt] text-CLS outputs of the CoCa decoder.
        """
        if captions is not None and captions.rows is not None:
            raise ValueError('contrastive learning needs one caption row per image')
        image = self.image_embedding(visual)
        text_emb = self.text_embedding(text_features, captions)
        scale = self.inverse_temperature()
        if self.loss_type == 'softmax':
            loss = clip_loss(image, text_emb, scale)
        else:
            loss = siglip_loss(image, text_emb, scale, self.logit_bias)
        return dict(loss_con=self.loss_weight * loss, logit_scale=scale.detach().reshape(()))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Checkpoints that hold ``logit_scale`` / ``logit_bias`` as 0-d scalars load."""
        for name in ('logit_scale', 'logit_bias'):
            value = state_dict.get(prefix + name)
            if value is not None and value.dim() == 0:
                state_dict[prefix + name] = value.reshape(1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def strip_prefix(batch: TaskBatch, pad_id: int) -> Tensor:
    """The rows' tokens without their task prefix (``prefix_len`` leading tokens), shifted
    left and right-padded with ``pad_id``: a text tower reads the caption, not the
    decoder's ``Cap:`` prompt (a no-op for configs whose caption prefix is empty)."""
    tokens = batch.tokens
    if tokens.numel() == 0:
        return tokens
    pos = torch.arange(tokens.shape[1], device=tokens.device)[None] + batch.prefix_len[:, None]
    shifted = tokens.gather(1, pos.clamp(max=tokens.shape[1] - 1))
    return shifted.masked_fill(pos >= tokens.shape[1], pad_id)


def _build_text_encoder(cfg: dict, tokenizer) -> nn.Module:
    """A :class:`TextEncoder` from its config, the vocabulary from ``tokenizer``."""
    if tokenizer is None:
        raise ValueError('a ContrastiveHead with its own text_encoder needs the tokenizer')
    tokenizer = build_tokenizer(tokenizer)
    cfg = dict(cfg)
    vocab = tokenizer.text_tokenizer
    return MODELS.build(cfg, default_args=dict(
        vocab_size=vocab.vocab_size, pad_id=vocab.pad_id, bos_id=vocab.bos_id,
        loc_offset=vocab.loc_offset, num_bins=tokenizer.num_bins))
