"""LocCaViT: the plain ViT encoder pretrained by LocCa and transferred to dense tasks."""
import logging
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import Tensor

from locca_mm.registry import MODELS
from locca_mm.utils.encoder_checkpoint import encoder_state, load_state_strictly, read_state_dict

from ..layers import grid_size_of, resize_pos_embed, sincos_2d
from .encoder_block import EncoderBlock


@MODELS.register_module()
class LocCaViT(BaseModule):
    """Vision Transformer encoder of LocCa (and of its Cap/CapPa/CoCa/CLIP baselines).

    A plain pre-norm ViT with no class token by default, as in big_vision. The
    same class serves pretraining (``out_type='tokens'``: visual tokens for the
    decoder) and transfer (``out_type='featmap'``: NCHW maps of
    ``out_indices`` for mmdet/mmseg necks and heads).

    Args:
        arch (str | dict): ``'tiny'`` (ViT-Ti), ``'vit-s'`` (ViT-S, 384 wide),
            ``'b'``, ``'l'``, ``'so400m'``, an alias in :attr:`arch_aliases`
            (mmpretrain's names of the same shapes: ``'deit-s'``, ``'base'``, ...)
            or a dict with ``embed_dims``, ``num_layers``, ``num_heads``,
            ``feedforward_channels``.
        img_size (int | tuple): Input size the position embedding is made for;
            other sizes are handled by resampling (learned) or recomputing
            (sin-cos) the table. Defaults to 224.
        patch_size (int): Patch size. Defaults to 16.
        in_channels (int): Image channels. Defaults to 3.
        pos_embed (str): ``'learn'`` (a learned table) or ``'sincos2d'`` (fixed
            2-D sin-cos). Defaults to ``'learn'``.
        pos_embed_std (float, optional): Init std of a learned table. Defaults
            to ``embed_dims ** -0.5`` (big_vision). Small tiny-width models
            learn locations faster with 1.0, the scale of a sin-cos table.
        with_cls_token (bool): Prepend a learned class token. Defaults to False.
        out_type (str): ``'tokens'`` ([B, N, D] per out index) or ``'featmap'``
            ([B, D, H/p, W/p] per out index). Defaults to ``'tokens'``.
        out_indices (int | Sequence[int]): Blocks whose outputs are returned;
            negative values count from the end. Defaults to -1.
        final_norm (bool): LayerNorm after the last block (applied to the last
            block's output only). Defaults to True.
        drop_rate (float): Dropout after the position embedding and in blocks.
        drop_path_rate (float): Stochastic depth, rising linearly to this value.
        qkv_bias (bool): Bias in the qkv projection. Defaults to True.
        frozen_stages (int): -1 trains everything; 0 freezes the patch and
            position embeddings; k > 0 also blocks 1..k; ``num_layers`` also the
            final norm (the whole encoder). Defaults to -1.
        with_cp (bool): Activation checkpointing of every block while training.
        fused_attn (bool): ``F.scaled_dot_product_attention`` (else plain math).
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-6.
        window_size (int): ViTDet window attention: blocks not in
            ``global_attn_indexes`` attend within non-overlapping
            ``window_size`` x ``window_size`` windows of the token grid (padded
            with zero tokens to a multiple of the window, unmasked, as in
            ViTDet). 0 (default) is global attention everywhere. The
            parameters do not change, so a globally pretrained checkpoint
            loads into a windowed encoder. ViTDet's relative position biases
            are not used: LocCa checkpoints have none.
        global_attn_indexes (Sequence[int]): Blocks that keep global attention
            when ``window_size > 0`` (negative values count from the end);
            ViTDet-B uses (2, 5, 8, 11).
        act_cfg (dict, optional): The MLPs' activation (mmcv config); None
            (default) is the exact GELU. big_vision's ViTs (flax ``nn.gelu``)
            use ``dict(type='GELU', approximate='tanh')``, which the big_vision
            converter sets.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')`` loads the encoder out of a full checkpoint
            (``.pth``, or ``.safetensors`` from ``tools/model_converters/extract_encoder.py``);
            missing, unexpected or mis-shaped keys raise an error (the position
            embedding is resampled to this model's grid).

    Forward: ``x: [B, C, H, W]`` -> tuple of outputs, one per out index.
    """

    arch_zoo: Dict[str, dict] = {
        'tiny': dict(embed_dims=192, num_layers=12, num_heads=3, feedforward_channels=768),
        'vit-s': dict(embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536),
        'b': dict(embed_dims=768, num_layers=12, num_heads=12, feedforward_channels=3072),
        'l': dict(embed_dims=1024, num_layers=24, num_heads=16, feedforward_channels=4096),
        'so400m': dict(embed_dims=1152, num_layers=27, num_heads=16, feedforward_channels=4304),
    }
    # Other names of the same shapes: mmpretrain's (``VisionTransformer.arch_zoo``) where
    # they mean the same model. ``'small'`` is not one: mmpretrain's is 768 wide x 8 layers.
    arch_aliases: Dict[str, str] = {
        'deit-t': 'tiny', 'deit-tiny': 'tiny', 'deit-s': 'vit-s', 'deit-small': 'vit-s',
        'base': 'b', 'large': 'l',
    }
    OUT_TYPES = ('tokens', 'featmap')
    POS_EMBEDS = ('learn', 'sincos2d')

    def __init__(self,
                 arch: Union[str, dict] = 'b',
                 img_size: Union[int, Tuple[int, int]] = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 pos_embed: str = 'learn',
                 pos_embed_std: Optional[float] = None,
                 with_cls_token: bool = False,
                 out_type: str = 'tokens',
                 out_indices: Union[int, Sequence[int]] = -1,
                 final_norm: bool = True,
                 drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0,
                 qkv_bias: bool = True,
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 fused_attn: bool = True,
                 norm_eps: float = 1e-6,
                 window_size: int = 0,
                 global_attn_indexes: Sequence[int] = (),
                 init_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self._check_args(out_type, pos_embed, window_size, with_cls_token)
        self.arch_settings = self.parse_arch(arch)
        self.embed_dims = self.arch_settings['embed_dims']
        self.num_layers = self.arch_settings['num_layers']
        self.img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.patch_size = patch_size
        self.grid_size = (self.img_size[0] // patch_size, self.img_size[1] // patch_size)
        self.out_type = out_type
        self.pos_embed_type = pos_embed
        self.with_cls_token = with_cls_token
        self.final_norm = final_norm
        self.with_cp = with_cp
        # Modules in this order: it fixes the parameter order and the RNG draws of the init.
        self._build_embeddings(in_channels, pos_embed_std, drop_rate)
        self.act_cfg = act_cfg
        self._build_blocks(qkv_bias, drop_rate, drop_path_rate, norm_eps, fused_attn,
                           window_size, global_attn_indexes)
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        self.out_indices = sorted(i % self.num_layers for i in out_indices)
        self.frozen_stages = frozen_stages
        self._init_linear_layers()
        self._register_load_state_dict_pre_hook(self._resample_pos_embed_hook)
        if frozen_stages >= 0:
            self._freeze_stages()

    # ---------------------------------------------------------------- construction
    @classmethod
    def _check_args(cls, out_type: str, pos_embed: str, window_size: int,
                    with_cls_token: bool) -> None:
        """ValueError for an argument value (or combination) LocCaViT does not have."""
        if out_type not in cls.OUT_TYPES:
            raise ValueError(f'out_type must be one of {cls.OUT_TYPES}, got {out_type!r}')
        if pos_embed not in cls.POS_EMBEDS:
            raise ValueError(f"pos_embed must be 'learn' or 'sincos2d', got {pos_embed!r}")
        if window_size < 0:
            raise ValueError(f'window_size must be >= 0 (0: global attention), got {window_size}')
        if window_size and with_cls_token:
            raise ValueError('window attention needs a plain token grid: with_cls_token=False')

    @classmethod
    def parse_arch(cls, arch: Union[str, dict]) -> dict:
        """The ``arch`` settings (a copy) of a name in :attr:`arch_zoo` (or an alias), or a
        dict with ``embed_dims``, ``num_layers``, ``num_heads``, ``feedforward_channels``.

        Raises:
            ValueError: an unknown name, or a dict without those keys.
        """
        if isinstance(arch, str):
            key = arch.lower()
            key = cls.arch_aliases.get(key, key)
            if key not in cls.arch_zoo:
                names = sorted([*cls.arch_zoo, *cls.arch_aliases])
                raise ValueError(f'unknown arch {arch!r}; choose from {names} or give a dict')
            return dict(cls.arch_zoo[key])
        needed = {'embed_dims', 'num_layers', 'num_heads', 'feedforward_channels'}
        if not isinstance(arch, dict) or not needed <= set(arch):
            raise ValueError(f'a custom arch needs the keys {sorted(needed)}, got {arch}')
        return dict(arch)

    def _build_embeddings(self, in_channels: int, pos_embed_std: Optional[float],
                          drop_rate: float) -> None:
        """Patch embedding, the position table (learned, or a fixed sin-cos buffer), the
        optional class token and the dropout after them."""
        dim = self.embed_dims
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(
            in_channels, dim, kernel_size=self.patch_size, stride=self.patch_size)
        num_patches = self.grid_size[0] * self.grid_size[1]
        if self.pos_embed_type == 'learn':
            self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, dim))
            nn.init.normal_(self.pos_embed, std=dim**-0.5 if pos_embed_std is None
                            else pos_embed_std)
        else:
            self.pos_embed = None
            self.register_buffer(
                'pos_embed_table', sincos_2d(*self.grid_size, dim), persistent=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if self.with_cls_token else None
        self.drop_after_pos = nn.Dropout(drop_rate)

    def _build_blocks(self, qkv_bias: bool, drop_rate: float, drop_path_rate: float,
                      norm_eps: float, fused_attn: bool, window_size: int,
                      global_attn_indexes: Sequence[int]) -> None:
        """The transformer blocks (stochastic depth rising linearly, windowed attention
        outside ``global_attn_indexes``) and the final norm."""
        self.window_size = window_size
        self.global_attn_indexes = sorted(i % self.num_layers for i in global_attn_indexes)
        dpr = torch.linspace(0, drop_path_rate, self.num_layers).tolist()
        self.blocks = nn.ModuleList([
            EncoderBlock(self.embed_dims, self.arch_settings['num_heads'],
                         self.arch_settings['feedforward_channels'], qkv_bias=qkv_bias,
                         drop_rate=drop_rate, drop_path=dpr[i], norm_eps=norm_eps,
                         fused_attn=fused_attn, act_cfg=self.act_cfg,
                         window_size=0 if i in self.global_attn_indexes else window_size)
            for i in range(self.num_layers)
        ])
        self.norm = nn.LayerNorm(self.embed_dims, eps=norm_eps) if self.final_norm \
            else nn.Identity()

    def _init_linear_layers(self) -> None:
        """ViT initialisation as in big_vision/timm: xavier-uniform linears, zero biases,
        lecun-normal patch embedding."""
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        w = self.patch_embed.proj.weight
        nn.init.trunc_normal_(w, std=(w[0].numel())**-0.5)
        nn.init.zeros_(self.patch_embed.proj.bias)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)

    def init_weights(self) -> None:
        """Load ``init_cfg=Pretrained`` strictly (with a clear error); otherwise keep the init."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            self.load_pretrained(cfg['checkpoint'], prefix=cfg.get('prefix', ''),
                                 map_location=cfg.get('map_location', 'cpu'))
            # mmengine's flag (public setter): a parent's or a second init_weights()
            # must not load (and log) the checkpoint again.
            self.is_init = True
            return
        super().init_weights()

    def load_pretrained(self, checkpoint: str, prefix: str = '',
                        map_location: str = 'cpu') -> None:
        """Load encoder weights from ``checkpoint`` (keys under ``prefix``), strictly.

        Raises:
            KeyError: the file has no key under ``prefix``, or keys are missing or
                unexpected (all of them are named).
            ValueError: a tensor's shape differs from this model's (e.g. another
                width); the position embedding is resampled instead.
        """
        state = read_state_dict(checkpoint, map_location)
        if prefix:
            state = encoder_state(state, prefix, source=checkpoint)
        self._resample_pos_embed_hook(state, '', None, None, None, None, None)
        load_state_strictly(self, state, checkpoint, prefix, 'LocCaViT')
        print_log(f'LocCaViT: loaded {len(state)} tensors from {checkpoint} (prefix {prefix!r})',
                  logger='current', level=logging.INFO)

    def _resample_pos_embed_hook(self, state_dict, prefix, *args) -> None:
        """Resample a learned position table of another grid to this model's grid."""
        key = prefix + 'pos_embed'
        if self.pos_embed is None or key not in state_dict:
            return
        ckpt = state_dict[key]
        if ckpt.shape == self.pos_embed.shape:
            return
        src = grid_size_of(ckpt.shape[1])
        print_log(f'LocCaViT: resampling the position embedding from {src} to '
                  f'{self.grid_size}', logger='current', level=logging.INFO)
        state_dict[key] = resize_pos_embed(ckpt, src, self.grid_size, mode='bicubic',
                                           num_extra_tokens=0)

    # ---------------------------------------------------------------- freezing
    def _freeze_stages(self) -> None:
        frozen: List[nn.Module] = [self.patch_embed, self.drop_after_pos]
        frozen += list(self.blocks[:max(self.frozen_stages, 0)])
        if self.frozen_stages >= self.num_layers:
            frozen.append(self.norm)
        for m in frozen:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False
        for p in (self.pos_embed, self.cls_token):
            if p is not None:
                p.requires_grad = False

    def train(self, mode: bool = True) -> 'LocCaViT':
        """``nn.Module.train``, keeping the frozen stages in eval mode."""
        super().train(mode)
        if self.frozen_stages >= 0:
            self._freeze_stages()
        return self

    # ---------------------------------------------------------------- forward
    def position_table(self, grid: Tuple[int, int]) -> Tensor:
        """Position embedding for a ``grid`` of patches, [1, h * w, D]."""
        if self.pos_embed is not None:
            if tuple(grid) == self.grid_size:
                return self.pos_embed
            return resize_pos_embed(self.pos_embed, self.grid_size, grid, mode='bicubic',
                                    num_extra_tokens=0)
        if tuple(grid) == self.grid_size:
            return self.pos_embed_table
        return sincos_2d(*grid, self.embed_dims).to(self.pos_embed_table)

    def forward(self, x: Tensor, token_mask: Optional[Tensor] = None,
                mask_token: Optional[Tensor] = None) -> Tuple[Tensor, ...]:
        """x: [B, C, H, W] -> outputs of ``out_indices`` ([B, N, D] or [B, D, h, w]).

        ``token_mask`` (bool [B, N], optional) with ``mask_token`` ([D]): the
        embedded patches where the mask is True are replaced by ``mask_token``
        before the position table is added (masked image modelling, as iBOT and
        SigLIP 2's masked prediction do).
        """
        x = self.patch_embed.proj(x)
        grid = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)  # [B, N, D]
        if token_mask is not None:
            if mask_token is None or token_mask.shape != x.shape[:2]:
                raise ValueError(f'token_mask must be bool [B, N] = {tuple(x.shape[:2])} with '
                                 f'a mask_token, got {tuple(token_mask.shape)}')
            x = torch.where(token_mask[..., None], mask_token.to(x.dtype), x)
        x = x + self.position_table(grid).to(x.dtype)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.drop_after_pos(x)
        outs = []
        grid = tuple(grid)
        for i, block in enumerate(self.blocks):
            if self.with_cp and self.training and x.requires_grad:
                x = cp.checkpoint(block, x, grid, use_reentrant=False)
            else:
                x = block(x, grid)
            if i in self.out_indices:
                out = self.norm(x) if i == self.num_layers - 1 else x
                outs.append(self._format(out, grid))
        return tuple(outs)

    def _format(self, x: Tensor, grid) -> Tensor:
        if self.out_type == 'tokens':
            return x
        if self.cls_token is not None:
            x = x[:, 1:]
        b, _, d = x.shape
        return x.transpose(1, 2).reshape(b, d, *grid)

    # ---------------------------------------------------------------- transfer helpers
    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Layer depth of a parameter for layer-wise lr decay (mmpretrain's convention).

        Embeddings are depth 0, block i is depth i + 1, everything else (the
        final norm, and parameters outside ``prefix``) is the top depth
        ``num_layers + 1``. Returns ``(layer_depth, num_layers + 2)``.
        """
        num_layers = self.num_layers + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name in ('cls_token', 'pos_embed') or name.startswith('patch_embed'):
            return 0, num_layers
        if name.startswith('blocks.'):
            return int(name.split('.')[1]) + 1, num_layers
        return num_layers - 1, num_layers
