"""Foreign ViT checkpoints -> ``LocCaViT`` state dicts (big_vision ``.npz``, timm).

Both return a :class:`Converted`: the state dict in LocCaViT names, the
LocCaViT arguments it needs (``arch`` etc.) and notes on what was dropped or
changed. ``tools/convert/`` wraps them and writes encoder files that the
transfer configs load with ``prefix='backbone.'``.

big_vision (``models/vit.py``; flax, ``/``-joined names in the ``.npz``; an
optional ``params/`` and ``img/`` root, e.g. SigLIP/CoCa image towers)::

    embedding/kernel [P, P, C, D]                  patch_embed.proj.weight [D, C, P, P]
    embedding/bias                                 patch_embed.proj.bias
    pos_embedding [1, N, D]                        pos_embed (absent: pos_embed='sincos2d')
    Transformer/encoderblock_i/LayerNorm_0/{scale, bias}          blocks.i.norm1.{weight, bias}
    .../MultiHeadDotProductAttention_0/{query,key,value}/kernel [D, H, Dh]
                                                   blocks.i.attn.qkv.weight [3D, D] (q; k; v)
    .../MultiHeadDotProductAttention_0/{query,key,value}/bias [H, Dh]
                                                   blocks.i.attn.qkv.bias [3D]
    .../MultiHeadDotProductAttention_0/out/kernel [H, Dh, D]      blocks.i.attn.proj.weight [D, D]
    .../LayerNorm_1                                blocks.i.norm2
    .../MlpBlock_0/Dense_{0,1}/kernel [in, out]    blocks.i.mlp.fc{1,2}.weight [out, in]
    Transformer/encoder_norm/{scale, bias}         norm.{weight, bias}
    cls, head, MAPHead_0, pre_logits               dropped (noted)

A scanned model (``Transformer/encoderblock/...`` with a leading [L] axis) is
unstacked. A difference that stays: flax's ``nn.gelu`` is the tanh
approximation, LocCaViT's MLP the exact GELU (they differ by less than 1e-3
at any input; the weights are the same).

timm (``VisionTransformer``): the names are already LocCaViT's. Dropped:
``head``, ``fc_norm``, ``attn_pool`` (classifier parts). LayerScale
(``ls1.gamma``, ``ls2.gamma``) is folded into ``attn.proj`` / ``mlp.fc2``.
A class token is kept as LocCaViT's ``cls_token`` (``with_cls_token=True``)
with its position folded into it (timm adds the class position to the token;
LocCaViT adds positions to patches only), so the tokens are timm's exactly;
``drop_prefix_tokens=True`` drops class and register tokens and their
positions instead (LocCa encoders have none; the patch tokens then differ
from timm's, as the class token no longer takes part in attention). Not
representable, hence an error: ``norm_pre`` (CLIP pre-norm), q/k norms,
attention/MLP inner norms.

Position tables are kept at their own grid; :meth:`Converted.at_img_size`
resamples them (bicubic, as LocCaViT does on load from another grid).
"""
import math
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from ..layers import resize_pos_embed

__all__ = [
    'Converted', 'big_vision_to_locca', 'timm_to_locca', 'resample_pos_embed',
    'big_vision_vit_forward', 'build_encoder', 'save_converted'
]


@dataclass
class Converted:
    """A converted encoder.

    Attributes:
        state_dict: LocCaViT names -> tensors.
        backbone: LocCaViT arguments the weights need (``arch``, ``patch_size``,
            ``img_size`` of the table, ``pos_embed``, ``with_cls_token``).
        notes: What was dropped, folded or resampled, one line each.
    """

    state_dict: Dict[str, Tensor]
    backbone: dict
    notes: List[str] = field(default_factory=list)

    def at_img_size(self, img_size: int) -> 'Converted':
        """The same encoder with its position table resampled for ``img_size`` inputs."""
        pos = self.state_dict.get('pos_embed')
        if pos is None or self.backbone.get('img_size') == img_size:
            return self
        patch = self.backbone['patch_size']
        grid = (img_size // patch, img_size // patch)
        side = math.isqrt(pos.shape[1])
        state = dict(self.state_dict, pos_embed=resample_pos_embed(pos, grid))
        note = f'position table resampled from {side}x{side} to {grid[0]}x{grid[1]} (bicubic)'
        return Converted(state, dict(self.backbone, img_size=grid[0] * patch),
                         self.notes + [note])


def resample_pos_embed(pos: Tensor, grid: Tuple[int, int]) -> Tensor:
    """Resample a square [1, n * n, D] table to ``grid`` (bicubic); unchanged if equal."""
    side = math.isqrt(pos.shape[1])
    if side * side != pos.shape[1]:
        raise ValueError(f'{pos.shape[1]} position embeddings do not form a square grid')
    if (side, side) == tuple(grid):
        return pos
    return resize_pos_embed(pos, (side, side), tuple(grid), mode='bicubic', num_extra_tokens=0)


def _arch(state: Dict[str, Tensor], num_heads: Optional[int]) -> dict:
    num_layers = len({k.split('.')[1] for k in state if k.startswith('blocks.')})
    return dict(embed_dims=state['patch_embed.proj.weight'].shape[0], num_layers=num_layers,
                num_heads=num_heads,
                feedforward_channels=state['blocks.0.mlp.fc1.weight'].shape[0])


def _backbone_args(state: Dict[str, Tensor], num_heads: Optional[int],
                   with_cls_token: bool = False) -> dict:
    patch = state['patch_embed.proj.weight'].shape[-1]
    pos = state.get('pos_embed')
    args = dict(arch=_arch(state, num_heads), patch_size=patch,
                pos_embed='learn' if pos is not None else 'sincos2d',
                with_cls_token=with_cls_token, final_norm='norm.weight' in state)
    if pos is not None:
        args['img_size'] = math.isqrt(pos.shape[1]) * patch
    return args


# ------------------------------------------------------------------------------ big_vision
_BV_BLOCK = re.compile(r'^Transformer/encoderblock_(\d+)/(.+)$')


def _big_vision_root(keys) -> str:
    """The prefix before ``embedding/kernel``: '', 'params/', 'img/' or 'params/img/'."""
    roots = [k[:-len('embedding/kernel')] for k in keys
             if k == 'embedding/kernel' or k.endswith('/embedding/kernel')]
    roots = [r for r in roots if r in ('', 'params/', 'img/', 'params/img/')]
    if not roots:
        sample = sorted(keys)[:5]
        raise KeyError(f'not a big_vision ViT: no embedding/kernel under "", "params/", '
                       f'"img/" or "params/img/" (first keys: {sample})')
    return max(roots, key=len)


def _unscan(params: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Scanned blocks (``encoderblock/...`` with a leading [L] axis) -> ``encoderblock_i/...``."""
    out = {}
    for k, v in params.items():
        if k.startswith('Transformer/encoderblock/'):
            rest = k[len('Transformer/encoderblock/'):]
            for i in range(v.shape[0]):
                out[f'Transformer/encoderblock_{i}/{rest}'] = v[i]
        else:
            out[k] = v
    return out


def big_vision_to_locca(params: Mapping[str, np.ndarray]) -> Converted:
    """Convert big_vision ViT parameters (``/``-joined names) to LocCaViT's.

    Args:
        params: name -> array, e.g. ``dict(np.load('vit.npz'))``.

    Raises:
        KeyError: no ViT under a known root, or parameters this mapping does
            not know (named).
    """
    root = _big_vision_root(params)
    own = {k[len(root):]: np.asarray(v) for k, v in params.items() if k.startswith(root)}
    own = _unscan(own)
    t = {k: torch.from_numpy(np.ascontiguousarray(v)).float() for k, v in own.items()}
    notes = [f'big_vision root {root!r}; {len(params) - len(own)} parameters outside it ignored']
    state: Dict[str, Tensor] = {
        'patch_embed.proj.weight': t.pop('embedding/kernel').permute(3, 2, 0, 1).contiguous(),
        'patch_embed.proj.bias': t.pop('embedding/bias'),
    }
    if 'pos_embedding' in t:
        state['pos_embed'] = t.pop('pos_embedding')
    else:
        notes.append('no pos_embedding: the model used the fixed 2-D sin-cos table; '
                     "use LocCaViT(pos_embed='sincos2d')")
    num_heads = None
    blocks = sorted({int(m.group(1)) for k in t if (m := _BV_BLOCK.match(k))})
    for i in blocks:
        src, dst = f'Transformer/encoderblock_{i}/', f'blocks.{i}.'
        att = src + 'MultiHeadDotProductAttention_0/'
        q = t.pop(att + 'query/kernel')  # [D, H, Dh]
        num_heads = q.shape[1]
        kernels = [q] + [t.pop(att + n + '/kernel') for n in ('key', 'value')]
        biases = [t.pop(att + n + '/bias') for n in ('query', 'key', 'value')]
        state[dst + 'norm1.weight'] = t.pop(src + 'LayerNorm_0/scale')
        state[dst + 'norm1.bias'] = t.pop(src + 'LayerNorm_0/bias')
        state[dst + 'attn.qkv.weight'] = torch.cat([k.flatten(1).t() for k in kernels])
        state[dst + 'attn.qkv.bias'] = torch.cat([b.flatten() for b in biases])
        out = t.pop(att + 'out/kernel')  # [H, Dh, D]
        state[dst + 'attn.proj.weight'] = out.flatten(0, 1).t().contiguous()
        state[dst + 'attn.proj.bias'] = t.pop(att + 'out/bias')
        state[dst + 'norm2.weight'] = t.pop(src + 'LayerNorm_1/scale')
        state[dst + 'norm2.bias'] = t.pop(src + 'LayerNorm_1/bias')
        for j in (0, 1):
            dense = f'{src}MlpBlock_0/Dense_{j}/'
            state[f'{dst}mlp.fc{j + 1}.weight'] = t.pop(dense + 'kernel').t().contiguous()
            state[f'{dst}mlp.fc{j + 1}.bias'] = t.pop(dense + 'bias')
    if 'Transformer/encoder_norm/scale' in t:
        state['norm.weight'] = t.pop('Transformer/encoder_norm/scale')
        state['norm.bias'] = t.pop('Transformer/encoder_norm/bias')
    else:
        notes.append('no encoder_norm: use LocCaViT(final_norm=False)')
    dropped = sorted(k for k in t if k.split('/')[0] in ('cls', 'head', 'MAPHead_0', 'pre_logits'))
    unknown = sorted(set(t) - set(dropped))
    if unknown:
        raise KeyError(f'big_vision parameters without a LocCaViT counterpart: {unknown}')
    if dropped:
        notes.append(f'dropped (not part of the LocCaViT encoder): {dropped}')
    notes.append("big_vision's MLP uses tanh-approximated GELU, LocCaViT the exact GELU")
    return Converted(state, _backbone_args(state, num_heads), notes)


# ------------------------------------------------------------------------------ timm
_TIMM_DROPPED = ('head.', 'fc_norm.', 'attn_pool.', 'head_drop.')
_TIMM_UNSUPPORTED = re.compile(
    r'^(norm_pre\.|blocks\.\d+\.(attn\.(q_norm|k_norm|norm)|mlp\.norm)\.)')


def _strip_wrappers(state: Mapping) -> Dict[str, Tensor]:
    for key in ('state_dict', 'model', 'module'):
        if isinstance(state.get(key), Mapping):
            state = state[key]
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def timm_to_locca(state: Mapping[str, Tensor], drop_prefix_tokens: bool = False,
                  num_heads: Optional[int] = None) -> Converted:
    """Convert a timm ``VisionTransformer`` state dict to LocCaViT's.

    Args:
        state: timm's state dict (a ``state_dict``/``model`` wrapper and a
            ``module.`` prefix are removed).
        drop_prefix_tokens: Drop the class/register tokens and their positions
            (else a class token becomes ``cls_token`` and register tokens are
            an error).
        num_heads: Recorded in ``backbone['arch']`` (a state dict does not tell).

    Raises:
        KeyError: parameters LocCaViT cannot represent (named).
    """
    src = {k: v.detach().float().clone() for k, v in _strip_wrappers(state).items()}
    notes: List[str] = []
    unsupported = sorted(k for k in src if _TIMM_UNSUPPORTED.match(k))
    if unsupported:
        raise KeyError(f'timm parameters LocCaViT has no counterpart for: {unsupported}')
    if 'norm.weight' not in src:
        notes.append('no final norm (timm applies fc_norm after pooling): use '
                     'LocCaViT(final_norm=False)')
    dropped = sorted(k for k in src if k.startswith(_TIMM_DROPPED))
    for k in dropped:
        del src[k]
    if dropped:
        notes.append(f'dropped (classifier parts): {dropped}')

    cls = src.pop('cls_token', None)
    reg = src.pop('reg_token', None)
    num_prefix = (cls is not None) + (0 if reg is None else reg.shape[1])
    pos = src.pop('pos_embed', None)
    prefix_pos = None
    if pos is not None:
        n_patch = pos.shape[1] - num_prefix
        if num_prefix and math.isqrt(n_patch)**2 == n_patch:
            # timm's default: the table holds the prefix tokens' positions first.
            prefix_pos, pos = pos[:, :num_prefix], pos[:, num_prefix:]
        src['pos_embed'] = pos
    with_cls = False
    if num_prefix and drop_prefix_tokens:
        notes.append(f'dropped {num_prefix} prefix token(s) (class/register) and their '
                     'positions: patch features now differ from timm\'s')
    elif reg is not None:
        raise KeyError('timm register tokens (reg_token) have no LocCaViT counterpart: '
                       'convert with drop_prefix_tokens=True')
    elif cls is not None:
        with_cls = True
        src['cls_token'] = cls if prefix_pos is None else cls + prefix_pos
        notes.append('class token kept as cls_token (its position folded in): use '
                     'LocCaViT(with_cls_token=True)')

    # LayerScale: x + gamma * proj(y) == x + proj'(y) with proj' rows scaled by gamma.
    scales = [k for k in src if k.endswith(('.ls1.gamma', '.ls2.gamma'))]
    for k in scales:
        gamma = src.pop(k)
        block = k.rsplit('.', 2)[0]
        target = f'{block}.attn.proj' if k.endswith('ls1.gamma') else f'{block}.mlp.fc2'
        src[target + '.weight'] = src[target + '.weight'] * gamma[:, None]
        src[target + '.bias'] = src[target + '.bias'] * gamma
    if scales:
        notes.append(f'{len(scales)} LayerScale gammas folded into attn.proj / mlp.fc2')
    return Converted(src, _backbone_args(src, num_heads, with_cls), notes)


# ------------------------------------------------------------------------------ checks and output
def big_vision_vit_forward(params: Mapping[str, np.ndarray], images: Tensor,
                           approximate_gelu: bool = True) -> Tensor:
    """big_vision's ViT encoder computed directly on its own parameters (no mapping).

    A reference for checking :func:`big_vision_to_locca`: einsums over the
    [D, H, Dh] attention kernels, as flax's ``DenseGeneral`` computes them.

    Args:
        params: The big_vision parameters (any root, scanned or not).
        images: [B, C, H, W], already normalised as the model expects.
        approximate_gelu: flax's default tanh GELU (True) or the exact one.

    Returns:
        [B, N, D] tokens after ``encoder_norm``.
    """
    root = _big_vision_root(params)
    p = _unscan({k[len(root):]: np.asarray(v) for k, v in params.items() if k.startswith(root)})
    p = {k: torch.from_numpy(np.ascontiguousarray(v)).float() for k, v in p.items()}

    def ln(x, name):
        return torch.nn.functional.layer_norm(x, x.shape[-1:], p[name + '/scale'],
                                              p[name + '/bias'], eps=1e-6)

    kernel = p['embedding/kernel']  # [P, P, C, D]
    patch = kernel.shape[0]
    b, c, h, w = images.shape
    x = images.permute(0, 2, 3, 1).reshape(b, h // patch, patch, w // patch, patch, c)
    x = torch.einsum('byixjc,ijcd->byxd', x, kernel) + p['embedding/bias']
    x = x.reshape(b, -1, kernel.shape[-1])
    if 'pos_embedding' in p:
        x = x + p['pos_embedding']
    else:
        from ..layers import sincos_2d
        x = x + sincos_2d(h // patch, w // patch, x.shape[-1])
    blocks = sorted({int(m.group(1)) for k in p if (m := _BV_BLOCK.match(k))})
    for i in blocks:
        blk = f'Transformer/encoderblock_{i}/'
        att = blk + 'MultiHeadDotProductAttention_0/'
        y = ln(x, blk + 'LayerNorm_0')
        q, k, v = (torch.einsum('bnd,dhk->bnhk', y, p[f'{att}{n}/kernel']) + p[f'{att}{n}/bias']
                   for n in ('query', 'key', 'value'))
        weights = torch.einsum('bnhk,bmhk->bhnm', q * q.shape[-1]**-0.5, k).softmax(-1)
        o = torch.einsum('bhnm,bmhk->bnhk', weights, v)
        x = x + torch.einsum('bnhk,hkd->bnd', o, p[att + 'out/kernel']) + p[att + 'out/bias']
        y = ln(x, blk + 'LayerNorm_1')
        mlp = blk + 'MlpBlock_0/'
        y = y @ p[mlp + 'Dense_0/kernel'] + p[mlp + 'Dense_0/bias']
        y = torch.nn.functional.gelu(y, approximate='tanh' if approximate_gelu else 'none')
        x = x + y @ p[mlp + 'Dense_1/kernel'] + p[mlp + 'Dense_1/bias']
    return ln(x, 'Transformer/encoder_norm')


def build_encoder(converted: Converted, num_heads: Optional[int] = None, **kwargs):
    """A ``LocCaViT`` (tokens out, eval mode) holding the converted weights, loaded strictly.

    ``num_heads`` overrides the converted arch's (timm files do not record it;
    any divisor of the width gives the same state dict shapes).

    Raises:
        RuntimeError: the state dict does not fit (keys named by torch).
    """
    from .locca_vit import LocCaViT
    args = dict(converted.backbone, **kwargs)
    arch = dict(args.pop('arch'))
    arch['num_heads'] = num_heads or arch.get('num_heads') or 1
    model = LocCaViT(arch=arch, **args)
    model.load_state_dict(converted.state_dict, strict=True)
    return model.eval()


def save_converted(converted: Converted, out: str, source: str) -> str:
    """Check that the weights load into LocCaViT, then write an encoder file (``backbone.``)."""
    from locca_mm.utils.encoder_checkpoint import save_encoder
    build_encoder(converted)
    meta = dict(source=source, backbone=converted.backbone, notes=converted.notes)
    return save_encoder(converted.state_dict, out, meta)
