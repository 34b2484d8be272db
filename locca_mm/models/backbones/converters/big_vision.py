"""big_vision ViT parameters (``models/vit.py``) -> ``LocCaViT``, and big_vision's forward.

flax, ``/``-joined names in the ``.npz``; an optional ``params/`` and ``img/``
root, e.g. SigLIP/CoCa image towers::

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

With ``keep_pool=True`` the MAP head (SigLIP / SigLIP 2 image towers) is kept
as ``MAPNeck.pool`` (``Converted.pool`` / ``Converted.neck``, flax's tanh GELU)::

    MAPHead_0/probe [1, 1, D]                      query
    MAPHead_0/MultiHeadDotProductAttention_0/query/kernel    attn.q.weight [D, D]
    MAPHead_0/MultiHeadDotProductAttention_0/{key,value}/kernel  attn.kv.weight [2D, D] (k; v)
    MAPHead_0/MultiHeadDotProductAttention_0/out/kernel      attn.proj.weight
    MAPHead_0/LayerNorm_0, MAPHead_0/MlpBlock_0/Dense_{0,1}  norm, mlp.fc1, mlp.fc2

A NaFlex checkpoint (SigLIP 2's variable-resolution variant, ``embedding``
a dense layer over flattened patches) is an error.

A scanned model (``Transformer/encoderblock/...`` with a leading [L] axis) is
unstacked. flax's ``nn.gelu`` is the tanh approximation: the returned
``backbone`` arguments carry ``act_cfg=FLAX_GELU`` (``dict(type='GELU',
approximate='tanh')``), so that a LocCaViT built from them computes what
big_vision computes (``tests/test_golden/test_vit.py`` checks it against
tokens of big_vision's own code within 1e-5). A LocCaViT with the default
exact GELU runs the same weights within about 1e-3.
"""
import re
from typing import Dict, List, Mapping, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ...layers import FLAX_GELU, sincos_2d
from .common import Converted, encoder_args
from .from_timm import NAFLEX_ERROR
from .to_timm import _mlp_ratio

__all__ = ['big_vision_to_locca', 'big_vision_vit_forward', 'FLAX_GELU']

_BV_BLOCK = re.compile(r'^Transformer/encoderblock_(\d+)/(.+)$')
_ATT = 'MultiHeadDotProductAttention_0/'
_QKV = ('query', 'key', 'value')
_DROPPED_ROOTS = ('cls', 'head', 'MAPHead_0', 'pre_logits')


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


def _root_tensors(params: Mapping[str, np.ndarray]) -> Tuple[str, Dict[str, Tensor]]:
    """(root, the ViT's float32 tensors under it, root stripped and blocks unscanned)."""
    root = _big_vision_root(params)
    own = _unscan({k[len(root):]: np.asarray(v) for k, v in params.items()
                   if k.startswith(root)})
    return root, {k: torch.from_numpy(np.ascontiguousarray(v)).float() for k, v in own.items()}


def _block_numbers(t: Mapping[str, Tensor]) -> List[int]:
    """The ``i`` of every ``Transformer/encoderblock_i/``, sorted."""
    return sorted({int(m.group(1)) for k in t if (m := _BV_BLOCK.match(k))})


def _pop_block(t: Dict[str, Tensor], i: int) -> Tuple[Dict[str, Tensor], int]:
    """Pop block ``i``'s parameters out of ``t``: (its LocCaViT tensors, its heads)."""
    src, dst = f'Transformer/encoderblock_{i}/', f'blocks.{i}.'
    att = src + _ATT
    kernels = [t.pop(f'{att}{n}/kernel') for n in _QKV]  # [D, H, Dh] each
    biases = [t.pop(f'{att}{n}/bias') for n in _QKV]
    state = {
        dst + 'norm1.weight': t.pop(src + 'LayerNorm_0/scale'),
        dst + 'norm1.bias': t.pop(src + 'LayerNorm_0/bias'),
        dst + 'attn.qkv.weight': torch.cat([k.flatten(1).t() for k in kernels]),
        dst + 'attn.qkv.bias': torch.cat([b.flatten() for b in biases]),
        # out/kernel [H, Dh, D]
        dst + 'attn.proj.weight': t.pop(att + 'out/kernel').flatten(0, 1).t().contiguous(),
        dst + 'attn.proj.bias': t.pop(att + 'out/bias'),
        dst + 'norm2.weight': t.pop(src + 'LayerNorm_1/scale'),
        dst + 'norm2.bias': t.pop(src + 'LayerNorm_1/bias'),
    }
    for j in (0, 1):
        dense = f'{src}MlpBlock_0/Dense_{j}/'
        state[f'{dst}mlp.fc{j + 1}.weight'] = t.pop(dense + 'kernel').t().contiguous()
        state[f'{dst}mlp.fc{j + 1}.bias'] = t.pop(dense + 'bias')
    return state, kernels[0].shape[1]


def _pop_map_head(t: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], int]:
    """Pop ``MAPHead_0/*`` out of ``t`` in ``AttentionPool`` names: (state, heads)."""
    src = 'MAPHead_0/'
    att = src + _ATT
    kernels = {n: t.pop(f'{att}{n}/kernel') for n in _QKV}  # [D, H, Dh]
    biases = {n: t.pop(f'{att}{n}/bias') for n in _QKV}
    state = {
        'query': t.pop(src + 'probe'),
        'attn.q.weight': kernels['query'].flatten(1).t().contiguous(),
        'attn.q.bias': biases['query'].flatten(),
        'attn.kv.weight': torch.cat([kernels[n].flatten(1).t() for n in ('key', 'value')]),
        'attn.kv.bias': torch.cat([biases[n].flatten() for n in ('key', 'value')]),
        'attn.proj.weight': t.pop(att + 'out/kernel').flatten(0, 1).t().contiguous(),
        'attn.proj.bias': t.pop(att + 'out/bias'),
        'norm.weight': t.pop(src + 'LayerNorm_0/scale'),
        'norm.bias': t.pop(src + 'LayerNorm_0/bias'),
    }
    for j in (0, 1):
        dense = f'{src}MlpBlock_0/Dense_{j}/'
        state[f'mlp.fc{j + 1}.weight'] = t.pop(dense + 'kernel').t().contiguous()
        state[f'mlp.fc{j + 1}.bias'] = t.pop(dense + 'bias')
    return state, kernels['query'].shape[1]


def _kept_pool(t: Dict[str, Tensor], root: str, notes: List[str]) -> Tuple[dict, dict]:
    """(pooler state, MAPNeck arguments) of the MAP head, popped out of ``t`` (noted)."""
    if 'MAPHead_0/probe' not in t:
        raise KeyError(f'keep_pool: no MAP head ({root}MAPHead_0/probe) in the checkpoint')
    pool, pool_heads = _pop_map_head(t)
    dim = int(pool['query'].shape[-1])
    neck = dict(in_channels=dim, num_heads=int(pool_heads),
                mlp_ratio=_mlp_ratio(dim, int(pool['mlp.fc1.weight'].shape[0])),
                act_cfg=dict(FLAX_GELU))
    notes.append(f'MAP head kept (MAPHead_0 -> MAPNeck.pool, {pool_heads} heads, tanh GELU)')
    return pool, neck


def _check_leftovers(t: Mapping[str, Tensor], notes: List[str]) -> None:
    """Note the classifier parts left in ``t``; anything else is an error."""
    dropped = sorted(k for k in t if k.split('/')[0] in _DROPPED_ROOTS)
    unknown = sorted(set(t) - set(dropped))
    if unknown:
        raise KeyError(f'big_vision parameters without a LocCaViT counterpart: {unknown}')
    if dropped:
        notes.append(f'dropped (not part of the LocCaViT encoder): {dropped}')


def big_vision_to_locca(params: Mapping[str, np.ndarray], keep_pool: bool = False
                        ) -> Converted:
    """Convert big_vision ViT parameters (``/``-joined names) to LocCaViT's.

    Args:
        params: name -> array, e.g. ``dict(np.load('vit.npz'))``.
        keep_pool: Keep the MAP head (``MAPHead_0``) as ``MAPNeck.pool``
            (``Converted.pool``, ``Converted.neck``) instead of dropping it.

    Raises:
        KeyError: no ViT under a known root, parameters this mapping does not
            know (named), a NaFlex model, or ``keep_pool`` without a MAP head.
    """
    root, t = _root_tensors(params)
    if t['embedding/kernel'].dim() != 4:
        raise KeyError(f'{root}embedding/kernel has shape {tuple(t["embedding/kernel"].shape)}, '
                       f'a dense layer over flattened patches: {NAFLEX_ERROR}')
    inside = sum(k.startswith(root) for k in params)
    notes = [f'big_vision root {root!r}; {len(params) - inside} parameters outside it ignored']
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
    for i in _block_numbers(t):
        block, num_heads = _pop_block(t, i)
        state.update(block)
    pool, neck = _kept_pool(t, root, notes) if keep_pool else ({}, {})
    if 'Transformer/encoder_norm/scale' in t:
        state['norm.weight'] = t.pop('Transformer/encoder_norm/scale')
        state['norm.bias'] = t.pop('Transformer/encoder_norm/bias')
    else:
        notes.append('no encoder_norm: use LocCaViT(final_norm=False)')
    _check_leftovers(t, notes)
    notes.append("big_vision's MLP uses the tanh-approximated GELU: act_cfg="
                 f'{FLAX_GELU} (LocCaViT\'s default, the exact GELU, differs by < 1e-3)')
    return Converted(state, dict(encoder_args(state, num_heads), act_cfg=dict(FLAX_GELU)), notes,
                     pool, neck)


# ------------------------------------------------------------------------------ reference
def _layer_norm(p: Mapping[str, Tensor], x: Tensor, name: str) -> Tensor:
    """flax ``LayerNorm`` ``name`` (eps 1e-6) applied to ``x``."""
    return F.layer_norm(x, x.shape[-1:], p[name + '/scale'], p[name + '/bias'], eps=1e-6)


def _embed(p: Mapping[str, Tensor], images: Tensor) -> Tensor:
    """Patch embedding plus positions (learned, else the sin-cos table): [B, N, D]."""
    kernel = p['embedding/kernel']  # [P, P, C, D]
    patch = kernel.shape[0]
    b, c, h, w = images.shape
    x = images.permute(0, 2, 3, 1).reshape(b, h // patch, patch, w // patch, patch, c)
    x = torch.einsum('byixjc,ijcd->byxd', x, kernel) + p['embedding/bias']
    x = x.reshape(b, -1, kernel.shape[-1])
    if 'pos_embedding' in p:
        return x + p['pos_embedding']
    return x + sincos_2d(h // patch, w // patch, x.shape[-1])


def _encoder_block(p: Mapping[str, Tensor], x: Tensor, i: int, approximate_gelu: bool) -> Tensor:
    """big_vision's ``Encoder1DBlock`` ``i``: einsums over the [D, H, Dh] kernels."""
    blk = f'Transformer/encoderblock_{i}/'
    att = blk + _ATT
    y = _layer_norm(p, x, blk + 'LayerNorm_0')
    q, k, v = (torch.einsum('bnd,dhk->bnhk', y, p[f'{att}{n}/kernel']) + p[f'{att}{n}/bias']
               for n in _QKV)
    weights = torch.einsum('bnhk,bmhk->bhnm', q * q.shape[-1]**-0.5, k).softmax(-1)
    o = torch.einsum('bhnm,bmhk->bnhk', weights, v)
    x = x + torch.einsum('bnhk,hkd->bnd', o, p[att + 'out/kernel']) + p[att + 'out/bias']
    y = _layer_norm(p, x, blk + 'LayerNorm_1')
    mlp = blk + 'MlpBlock_0/'
    y = y @ p[mlp + 'Dense_0/kernel'] + p[mlp + 'Dense_0/bias']
    y = F.gelu(y, approximate='tanh' if approximate_gelu else 'none')
    return x + y @ p[mlp + 'Dense_1/kernel'] + p[mlp + 'Dense_1/bias']


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
    _, p = _root_tensors(params)
    x = _embed(p, images)
    for i in _block_numbers(p):
        x = _encoder_block(p, x, i, approximate_gelu)
    return _layer_norm(p, x, 'Transformer/encoder_norm')
