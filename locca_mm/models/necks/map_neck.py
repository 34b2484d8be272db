"""MAPNeck: multi-head attention pooling of encoder tokens into one vector per image."""
from typing import Sequence, Tuple, Union

from mmengine.model import BaseModule
from torch import Tensor

from locca_mm.registry import MODELS

from ..layers import AttentionPool


@MODELS.register_module()
class MAPNeck(BaseModule):
    """Pool an encoder's tokens with a learned query (big_vision's MAP head).

    One learned query attends to all tokens, then a residual MLP with a
    LayerNorm (:class:`~locca_mm.models.layers.AttentionPool`). Used for the
    frozen-encoder probe in mmpretrain: a classifier reads the pooled vector
    (the mmpretrain alternative is ``GlobalAveragePooling``, GAP).

    Args:
        in_channels (int): Token width D.
        num_heads (int): Attention heads. Defaults to 12.
        mlp_ratio (float): Hidden width of the MLP relative to D. Defaults to 4.
        init_cfg (dict, optional): Initialisation config.

    Forward: a tuple of [B, D, h, w] maps or [B, N, D] tokens (mmpretrain's
    neck input) -> a tuple of [B, D], one per input.
    """

    def __init__(self, in_channels: int, num_heads: int = 12, mlp_ratio: float = 4.0,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.pool = AttentionPool(in_channels, num_heads, num_queries=1, mlp_ratio=mlp_ratio)

    def forward(self, inputs: Union[Tensor, Sequence[Tensor]]) -> Tuple[Tensor, ...]:
        """inputs: [B, D, h, w] / [B, N, D] maps or a tuple of them -> tuple of [B, D]."""
        if isinstance(inputs, Tensor):
            inputs = (inputs, )
        outs = []
        for x in inputs:
            if x.dim() == 4:  # [B, D, h, w] -> [B, h * w, D]
                x = x.flatten(2).transpose(1, 2)
            outs.append(self.pool(x)[:, 0])
        return tuple(outs)
