"""SimpleFPN: ViTDet's feature pyramid built from one single-scale ViT map."""
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from locca_mm.registry import MODELS

# LayerNorm over the channels of [B, C, H, W] maps (mmpretrain's ``LN2d``), ViTDet's norm.
LN2D = dict(type='mmpretrain.LN2d', eps=1e-6)


@MODELS.register_module()
class SimpleFPN(BaseModule):
    """Single-scale ViT feature map -> multi-scale pyramid (Li et al., ViTDet, 2022).

    mmdet ships this neck only under ``projects/ViTDet`` (not in the installed
    package), so it is here, with the same arguments and parameter names,
    usable from mmdet and mmseg configs as ``type='locca_mm.SimpleFPN'``.

    The last map of the backbone ([B, D, h, w], stride p) goes through four
    parallel branches: x4 (two stride-2 transposed convs with norm + GELU
    between), x2 (one transposed conv), x1 (identity) and x0.5 (max-pool), i.e.
    strides p/4, p/2, p, 2p (4, 8, 16, 32 for patch 16). Each level gets a 1x1
    lateral conv and a 3x3 output conv, both normalised; ``num_outs`` beyond the
    four levels are stride-2 subsamplings of the last one (mmdet's FPN
    ``max_pool2d(x, 1, stride=2)``, Detectron2's ``LastLevelMaxPool``).

    Args:
        backbone_channel (int): Width D of the backbone map.
        in_channels (Sequence[int]): Widths of the four branches, ViTDet:
            ``[D // 4, D // 2, D, D]``.
        out_channels (int): Width of every pyramid level (256 in ViTDet).
        num_outs (int): Number of levels returned (>= 4; 5 for Mask R-CNN).
        conv_cfg (dict, optional): Conv config of the lateral/output convs.
        norm_cfg (dict, optional): Norm after the first transposed conv and in
            the lateral/output convs. Defaults to channel LayerNorm (``LN2d``).
        act_cfg (dict, optional): Activation of the lateral/output convs
            (None in ViTDet).
        init_cfg (dict, optional): Initialisation config.

    Forward: a [B, D, h, w] map, or a tuple of them (the last one is used) ->
    tuple of ``num_outs`` maps [B, out_channels, 4h / 2^l, 4w / 2^l].
    """

    def __init__(self,
                 backbone_channel: int,
                 in_channels: Sequence[int],
                 out_channels: int,
                 num_outs: int,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = LN2D,
                 act_cfg: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        in_channels = list(in_channels)
        dim = backbone_channel
        if in_channels != [dim // 4, dim // 2, dim, dim]:
            raise ValueError(f'SimpleFPN: in_channels must be [D/4, D/2, D, D] = '
                             f'{[dim // 4, dim // 2, dim, dim]} for backbone_channel {dim}, '
                             f'got {in_channels}')
        if num_outs < len(in_channels):
            raise ValueError(f'SimpleFPN: num_outs ({num_outs}) < the 4 pyramid levels')
        self.backbone_channel = backbone_channel
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_ins = len(in_channels)
        self.num_outs = num_outs

        norm = build_norm_layer(norm_cfg, dim // 2)[1] if norm_cfg else nn.Identity()
        self.fpn1 = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 2, 2, 2), norm, nn.GELU(),
            nn.ConvTranspose2d(dim // 2, dim // 4, 2, 2))
        self.fpn2 = nn.Sequential(nn.ConvTranspose2d(dim, dim // 2, 2, 2))
        self.fpn3 = nn.Sequential(nn.Identity())
        self.fpn4 = nn.Sequential(nn.MaxPool2d(kernel_size=2, stride=2))

        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for c in in_channels:
            self.lateral_convs.append(ConvModule(
                c, out_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
                inplace=False))
            self.fpn_convs.append(ConvModule(
                out_channels, out_channels, 3, padding=1, conv_cfg=conv_cfg,
                norm_cfg=norm_cfg, act_cfg=act_cfg, inplace=False))

    def forward(self, inputs: Union[Tensor, Sequence[Tensor]]) -> Tuple[Tensor, ...]:
        """inputs: [B, D, h, w] (or a tuple ending with it) -> ``num_outs`` maps."""
        x = inputs if isinstance(inputs, Tensor) else inputs[-1]
        levels = [self.fpn1(x), self.fpn2(x), self.fpn3(x), self.fpn4(x)]
        outs = [fpn_conv(lateral(level)) for level, lateral, fpn_conv
                in zip(levels, self.lateral_convs, self.fpn_convs)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
