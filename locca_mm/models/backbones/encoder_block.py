"""EncoderBlock: the pre-norm transformer block of LocCaViT (global or window attention)."""
from typing import Optional, Tuple

import torch.nn as nn
from mmcv.cnn.bricks import DropPath
from torch import Tensor

from ..layers import Attention, Mlp
from ..layers.window import window_partition, window_unpartition

__all__ = ['EncoderBlock']


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x)). [B, N, D] -> [B, N, D].

    With ``window_size > 0`` the attention runs within non-overlapping
    ``window_size`` x ``window_size`` windows of the token grid (ViTDet); the
    parameters are the same as for global attention, so a globally pretrained
    block loads unchanged.
    """

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, qkv_bias: bool = True,
                 drop_rate: float = 0.0, drop_path: float = 0.0, norm_eps: float = 1e-6,
                 fused_attn: bool = True, window_size: int = 0,
                 act_cfg: Optional[dict] = None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, proj_drop=drop_rate,
                              fused=fused_attn)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, mlp_dim, drop=drop_rate, act_cfg=act_cfg)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.window_size = window_size

    def forward(self, x: Tensor, grid: Optional[Tuple[int, int]] = None) -> Tensor:
        """x: [B, h * w, D]; ``grid`` = (h, w) is needed by a windowed block only."""
        y = self.norm1(x)
        if self.window_size > 0:
            if grid is None:
                raise ValueError('a windowed EncoderBlock needs the token grid (h, w)')
            windows, padded = window_partition(y, grid, self.window_size)
            y = window_unpartition(self.attn(windows), grid, padded, self.window_size)
        else:
            y = self.attn(y)
        x = x + self.drop_path(y)
        return x + self.drop_path(self.mlp(self.norm2(x)))
