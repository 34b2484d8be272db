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

The reverse, LocCaViT -> timm (:func:`locca_to_timm`, ``tools/convert/locca_to_timm.py``),
keeps the names too and adds what timm's ``VisionTransformer`` needs instead:
a fixed sin-cos table is written out as ``pos_embed``; a class token becomes
timm's with ``no_embed_class=True`` (positions on patches only, as in
LocCaViT); no final norm becomes ``final_norm=False``; GAP is timm's
``global_pool='avg'`` with ``fc_norm=False`` (LocCaViT's final norm acts on
the tokens); a one-query MAP pooler (``MAPNeck.pool``,
``ContrastiveHead.image_pool``: an ``AttentionPool``) becomes ``attn_pool``::

    query                      attn_pool.latent
    attn.q / attn.kv / attn.proj   attn_pool.q / attn_pool.kv / attn_pool.proj
    norm, mlp.fc1, mlp.fc2     attn_pool.norm, attn_pool.mlp.fc1, attn_pool.mlp.fc2

Not expressible, hence an error: a LayerNorm eps other than 1e-6, window
attention, a pooler with several queries, or with other heads or another MLP
width than the encoder (timm sizes ``attn_pool`` from the encoder's).
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
    'big_vision_vit_forward', 'build_encoder', 'save_converted', 'TimmExport', 'locca_to_timm'
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


# ------------------------------------------------------------------------------ LocCaViT -> timm
_LOCCA_VIT_KEY = re.compile(
    r'^(patch_embed\.proj\.(weight|bias)|pos_embed|cls_token|norm\.(weight|bias)'
    r'|blocks\.\d+\.(norm[12]|attn\.(qkv|proj)|mlp\.fc[12])\.(weight|bias))$')
# AttentionPool (MAPNeck.pool, ContrastiveHead.image_pool) -> timm's AttentionPoolLatent.
_ATTN_POOL_TO_TIMM = (('query', 'latent'), ('attn.q', 'q'), ('attn.kv', 'kv'),
                      ('attn.proj', 'proj'), ('norm', 'norm'), ('mlp.fc1', 'mlp.fc1'),
                      ('mlp.fc2', 'mlp.fc2'))
_TIMM_NORM_EPS = 1e-6  # timm's VisionTransformer LayerNorm (and its attn_pool's)


@dataclass
class TimmExport:
    """A LocCaViT encoder (and MAP pooler) in timm ``VisionTransformer`` names.

    Attributes:
        state_dict: timm names -> tensors (no classifier: ``num_classes=0``).
        model_kwargs: ``timm.create_model`` keyword arguments that build the
            matching model (sizes, pooling, class token, norms); plain JSON types.
        notes: What was assumed, added or dropped, one line each.
    """

    state_dict: Dict[str, Tensor]
    model_kwargs: dict
    notes: List[str] = field(default_factory=list)


def _mlp_ratio(dim: int, hidden: int) -> float:
    """A float ``r`` with ``int(dim * r) == hidden``, which is how timm sizes its MLPs."""
    for ratio in (hidden / dim, (hidden + 0.5) / dim):
        if int(dim * ratio) == hidden:
            return ratio
    raise ValueError(f'no mlp_ratio gives an MLP width of {hidden} at width {dim}')


def _pair(size) -> Optional[Tuple[int, int]]:
    """``img_size`` as (h, w), or None."""
    if size is None:
        return None
    return (int(size), int(size)) if isinstance(size, (int, float)) else tuple(map(int, size))


def _pool_to_timm(pool: Mapping[str, Tensor], dim: int, mlp_dim: int, num_heads: int,
                  pool_num_heads: Optional[int], qkv_bias: bool,
                  notes: List[str]) -> Dict[str, Tensor]:
    """An ``AttentionPool`` state dict -> timm ``attn_pool.*`` (checked against the encoder)."""
    out: Dict[str, Tensor] = {}
    unknown = []
    for k, v in pool.items():
        for ours, theirs in _ATTN_POOL_TO_TIMM:
            if k == ours or k.startswith(ours + '.'):
                out['attn_pool.' + theirs + k[len(ours):]] = v.detach().clone().contiguous()
                break
        else:
            unknown.append(k)
    needed = ['query'] + [f'{n}.{p}' for n, _ in _ATTN_POOL_TO_TIMM[1:] for p in ('weight', 'bias')]
    missing = sorted(set(needed) - set(pool))
    if unknown or missing:
        raise KeyError(f'not a MAP pooler (AttentionPool): unknown keys {sorted(unknown)}, '
                       f'missing keys {missing}')
    queries = pool['query'].shape
    if tuple(queries) != (1, 1, dim):
        raise ValueError(f'the MAP pooler\'s query is {tuple(queries)}: timm\'s attn_pool has '
                         f'one query of the encoder\'s width, (1, 1, {dim})')
    hidden = pool['mlp.fc1.weight'].shape[0]
    if hidden != mlp_dim:
        raise ValueError(f'the MAP pooler\'s MLP width {hidden} differs from the encoder\'s '
                         f'{mlp_dim}: timm sizes attn_pool with the encoder\'s mlp_ratio')
    if pool_num_heads is None:
        notes.append(f'MAP pooler: assumed to use the encoder\'s {num_heads} heads, as timm\'s '
                     'attn_pool does (a config tells)')
    elif pool_num_heads != num_heads:
        raise ValueError(f'the MAP pooler has {pool_num_heads} heads, the encoder {num_heads}: '
                         'timm\'s attn_pool always uses the encoder\'s head count')
    if not qkv_bias:
        biases = ('attn_pool.q.bias', 'attn_pool.kv.bias')
        if any(out[b].any() for b in biases):
            raise ValueError('the encoder has qkv_bias=False, so timm\'s attn_pool has no q/kv '
                             'biases, but the MAP pooler\'s are not zero')
        for b in biases:
            del out[b]
    return out


def locca_to_timm(state: Mapping[str, Tensor], backbone: Optional[dict] = None,
                  pool: Optional[Mapping[str, Tensor]] = None,
                  pool_num_heads: Optional[int] = None, global_pool: Optional[str] = None,
                  pool_include_prefix: bool = True) -> TimmExport:
    """Convert a LocCaViT state dict to a timm ``VisionTransformer`` one (reverses timm_to_locca).

    The parameter names are shared, so the encoder's tensors keep their names;
    ``timm_to_locca(export.state_dict)`` gives them back (it drops ``attn_pool``).
    What else changes is in the module docstring.

    Args:
        state: LocCaViT's state dict (no ``backbone.`` prefix).
        backbone: LocCaViT arguments a config gives (``arch`` as a name or a
            dict, possibly partial, ``img_size``, ``patch_size``, ``in_channels``,
            ``pos_embed``, ``with_cls_token``, ``final_norm``, ``qkv_bias``,
            ``norm_eps``, ``window_size``, ``global_attn_indexes``); what it
            leaves out is read off the tensors. ``num_heads``, which no tensor
            shape tells, falls back to the LocCaViT arch of the same widths
            (noted); a sin-cos encoder's ``img_size`` to LocCaViT's 224 (noted).
        pool: The MAP pooler's state dict (``AttentionPool`` names: ``query``,
            ``attn.q`` ...), or None.
        pool_num_heads: The pooler's heads if known (a config); must equal
            the encoder's.
        global_pool: ``'map'`` or ``'avg'``; default ``'map'`` with a pooler.
        pool_include_prefix: With a class token: whether the pooling sees it
            (LocCaViT's tokens include it; its feature maps do not).

    Raises:
        KeyError: ``state`` has parameters LocCaViT does not (named) or is no
            LocCaViT encoder; the pooler's keys are not an ``AttentionPool``'s.
        ValueError: ``backbone`` contradicts the tensors; the number of heads is
            unknown; or something timm's ``VisionTransformer`` cannot express
            (named: LayerNorm eps, window attention, the pooler's shape/heads).
    """
    from ..layers import sincos_2d
    from .locca_vit import LocCaViT
    backbone = dict(backbone or {})
    notes: List[str] = []
    unknown = sorted(k for k in state if not _LOCCA_VIT_KEY.match(k))
    if unknown:
        raise KeyError(f'parameters that are not LocCaViT\'s: {unknown[:8]}'
                       + (f' and {len(unknown) - 8} more' if len(unknown) > 8 else ''))
    for key in ('patch_embed.proj.weight', 'blocks.0.mlp.fc1.weight'):
        if key not in state:
            raise KeyError(f'not a LocCaViT encoder: no {key} among {sorted(state)[:5]}')
    out = {k: v.detach().clone().contiguous() for k, v in state.items()}

    # What the tensors say, and what the configuration says about the same things.
    found = _backbone_args(out, None, 'cls_token' in out)
    found_arch = found.pop('arch')
    found.update(qkv_bias='blocks.0.attn.qkv.bias' in out,
                 in_channels=int(out['patch_embed.proj.weight'].shape[1]))
    arch = backbone.get('arch') or {}
    if isinstance(arch, str):
        if arch.lower() not in LocCaViT.arch_zoo:
            raise ValueError(f'unknown LocCaViT arch {arch!r}; known: {sorted(LocCaViT.arch_zoo)}')
        arch = LocCaViT.arch_zoo[arch.lower()]
    differ = [f'{k}: configured {arch[k]} vs {found_arch[k]} in the tensors'
              for k in ('embed_dims', 'num_layers', 'feedforward_channels')
              if arch.get(k) is not None and arch[k] != found_arch[k]]
    differ += [f'{k}: configured {backbone[k]!r} vs {found[k]!r} in the tensors'
               for k in ('patch_size', 'in_channels', 'pos_embed', 'with_cls_token',
                         'final_norm', 'qkv_bias') if k in backbone and backbone[k] != found[k]]
    if differ:
        raise ValueError('the configuration does not describe these tensors: ' + '; '.join(differ))
    dim, depth = found_arch['embed_dims'], found_arch['num_layers']
    mlp_dim, patch = found_arch['feedforward_channels'], found['patch_size']

    num_heads = arch.get('num_heads')
    if num_heads is None:
        same = [(name, a) for name, a in LocCaViT.arch_zoo.items()
                if (a['embed_dims'], a['feedforward_channels']) == (dim, mlp_dim)]
        if not same:
            raise ValueError(f'the number of attention heads is in no tensor shape, and no '
                             f'LocCaViT arch has width {dim} and MLP width {mlp_dim}: give it '
                             '(the model\'s config, or num_heads)')
        name, zoo = same[0]
        num_heads = zoo['num_heads']
        notes.append(f'num_heads={num_heads} assumed (LocCaViT arch {name!r} has these widths)')
    if dim % num_heads:
        raise ValueError(f'width {dim} is not divisible by {num_heads} heads')

    eps = backbone.get('norm_eps', _TIMM_NORM_EPS)
    if eps != _TIMM_NORM_EPS:
        raise ValueError(f'norm_eps={eps}: timm\'s VisionTransformer (and its attn_pool) use '
                         f'LayerNorm eps {_TIMM_NORM_EPS}, so its features would differ')
    window = backbone.get('window_size') or 0
    global_blocks = {i % depth for i in backbone.get('global_attn_indexes') or ()}
    if window and len(global_blocks) < depth:
        raise ValueError(f'window attention (window_size={window}) has no counterpart in timm\'s '
                         'VisionTransformer, which attends globally in every block; the weights '
                         'are the same: export with window_size=0 to get the global encoder')

    # Positions: timm's table is always a parameter at one grid.
    img = _pair(backbone.get('img_size'))
    if 'pos_embed' in out:
        n = out['pos_embed'].shape[1]
        if img is not None and (img[0] // patch) * (img[1] // patch) == n:
            grid = (img[0] // patch, img[1] // patch)
        else:
            side = math.isqrt(n)
            if side * side != n:
                raise ValueError(f'{n} position embeddings do not form a square grid: give '
                                 'img_size')
            grid = (side, side)
            if img is not None:
                notes.append(f'configured img_size {list(img)} differs from the position table '
                             f'({side}x{side} patches): exported for {side * patch} px inputs')
    else:
        if img is None:
            img = (224, 224)
            notes.append('fixed sin-cos positions and no img_size given: exported for 224 px')
        grid = (img[0] // patch, img[1] // patch)
        out['pos_embed'] = sincos_2d(*grid, dim).to(out['patch_embed.proj.weight'].dtype)
        notes.append('fixed 2-D sin-cos positions stored as timm\'s pos_embed; at another input '
                     'size timm resamples this table (bicubic), LocCaViT recomputes it')

    global_pool = global_pool or ('map' if pool else 'avg')
    if global_pool not in ('map', 'avg'):
        raise ValueError(f"global_pool must be 'map' or 'avg', got {global_pool!r}")
    if global_pool == 'map':
        if not pool:
            raise ValueError('global_pool=\'map\' needs a MAP pooler, and there is none')
        out.update(_pool_to_timm(pool, dim, mlp_dim, num_heads, pool_num_heads,
                                 found['qkv_bias'], notes))
    elif pool:
        notes.append('MAP pooler dropped (global_pool=\'avg\')')

    with_cls = found['with_cls_token']
    kwargs = dict(num_classes=0, global_pool=global_pool, class_token=with_cls,
                  img_size=grid[0] * patch if grid[0] == grid[1]
                  else [grid[0] * patch, grid[1] * patch],
                  patch_size=patch, embed_dim=dim, depth=depth, num_heads=num_heads,
                  mlp_ratio=_mlp_ratio(dim, mlp_dim), qkv_bias=found['qkv_bias'])
    if found['in_channels'] != 3:
        kwargs['in_chans'] = found['in_channels']
    if with_cls:
        kwargs['no_embed_class'] = True  # LocCaViT adds positions to the patches only
        if pool_include_prefix:
            kwargs['pool_include_prefix'] = True
    if not found['final_norm']:
        kwargs['final_norm'] = False
        notes.append('no final norm: final_norm=False')
    if global_pool == 'avg':
        kwargs['fc_norm'] = False  # the final norm acts on the tokens, before pooling
    return TimmExport(out, kwargs, notes)


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
