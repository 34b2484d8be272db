"""SelfDistillationHead: the DINO-style projection head of SigLIP 2's self-distillation."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from locca_mm.registry import MODELS


@MODELS.register_module()
class SelfDistillationHead(BaseModule):
    """MLP -> L2-normalised bottleneck -> cosine similarity to ``num_prototypes`` prototypes.

    DINO's head (Caron et al., 2021), used by SILC's local-to-global consistency and by
    iBOT / TIPS' masked prediction: ``num_layers`` linear layers with GELU between
    (``in_dims -> hidden_dims -> ... -> bottleneck_dims``), the output L2-normalised and
    scored against L2-normalised prototypes (DINO's weight-normalised last layer with its
    norm fixed to 1). The result, in [-1, 1], is divided by a temperature in the loss.

    Args:
        in_dims (int): Width of the features (set by the model).
        num_prototypes (int): K, the output width. DINO: 65536.
        hidden_dims (int): MLP width. DINO: 2048.
        bottleneck_dims (int): Width before the prototypes. DINO: 256.
        num_layers (int): Linear layers of the MLP. DINO: 3.
    Forward: ``[..., in_dims] -> [..., num_prototypes]``.
    """

    def __init__(self, in_dims: int, num_prototypes: int = 65536, hidden_dims: int = 2048,
                 bottleneck_dims: int = 256, num_layers: int = 3,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        dims = [in_dims] + [hidden_dims] * (num_layers - 1) + [bottleneck_dims]
        layers = []
        for i in range(num_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < num_layers - 1:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        self.prototypes = nn.Parameter(torch.empty(num_prototypes, bottleneck_dims))
        for m in self.mlp:
            if isinstance(m, nn.Linear):  # DINO: trunc_normal(std=0.02), zero bias
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.prototypes, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        z = F.normalize(self.mlp(x), dim=-1)
        return F.linear(z, F.normalize(self.prototypes, dim=-1))
