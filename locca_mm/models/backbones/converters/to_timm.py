"""``LocCaViT`` (and a MAP pooler) -> timm ``VisionTransformer`` (reverses ``timm_to_locca``).

The names are kept; what timm's ``VisionTransformer`` needs is added instead:
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
attention, a pooler with several queries, or with other heads, another MLP
width or another activation than the encoder (timm sizes ``attn_pool`` from
the encoder's and gives it the encoder's ``act_layer``).
"""
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

from torch import Tensor

from ...layers import grid_size_of, sincos_2d
from .common import encoder_args

__all__ = ['TimmExport', 'locca_to_timm']

_LOCCA_VIT_KEY = re.compile(
    r'^(patch_embed\.proj\.(weight|bias)|pos_embed|cls_token|norm\.(weight|bias)'
    r'|blocks\.\d+\.(norm[12]|attn\.(qkv|proj)|mlp\.fc[12])\.(weight|bias))$')
# AttentionPool (MAPNeck.pool, ContrastiveHead.image_pool) -> timm's AttentionPoolLatent.
_ATTN_POOL_TO_TIMM = (('query', 'latent'), ('attn.q', 'q'), ('attn.kv', 'kv'),
                      ('attn.proj', 'proj'), ('norm', 'norm'), ('mlp.fc1', 'mlp.fc1'),
                      ('mlp.fc2', 'mlp.fc2'))
_TIMM_NORM_EPS = 1e-6  # timm's VisionTransformer LayerNorm (and its attn_pool's)
_SIZES = ('embed_dims', 'num_layers', 'feedforward_channels')
_FLAGS = ('patch_size', 'in_channels', 'pos_embed', 'with_cls_token', 'final_norm', 'qkv_bias')


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


# ------------------------------------------------------------------------------ the encoder
def _encoder_tensors(state: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """Copies of a LocCaViT encoder's tensors; KeyError for anything else."""
    unknown = sorted(k for k in state if not _LOCCA_VIT_KEY.match(k))
    if unknown:
        raise KeyError(f'parameters that are not LocCaViT\'s: {unknown[:8]}'
                       + (f' and {len(unknown) - 8} more' if len(unknown) > 8 else ''))
    for key in ('patch_embed.proj.weight', 'blocks.0.mlp.fc1.weight'):
        if key not in state:
            raise KeyError(f'not a LocCaViT encoder: no {key} among {sorted(state)[:5]}')
    return {k: v.detach().clone().contiguous() for k, v in state.items()}


def _read_encoder(out: Mapping[str, Tensor], backbone: dict) -> Tuple[dict, dict, dict]:
    """(what the tensors say, their arch, the configured arch); ValueError if they differ."""
    from ..locca_vit import LocCaViT
    found = encoder_args(out, None, 'cls_token' in out)
    found_arch = found.pop('arch')
    found.update(qkv_bias='blocks.0.attn.qkv.bias' in out,
                 in_channels=int(out['patch_embed.proj.weight'].shape[1]))
    arch = backbone.get('arch') or {}
    if isinstance(arch, str):
        arch = LocCaViT.parse_arch(arch)
    differ = [f'{k}: configured {arch[k]} vs {found_arch[k]} in the tensors'
              for k in _SIZES if arch.get(k) is not None and arch[k] != found_arch[k]]
    differ += [f'{k}: configured {backbone[k]!r} vs {found[k]!r} in the tensors'
               for k in _FLAGS if k in backbone and backbone[k] != found[k]]
    if differ:
        raise ValueError('the configuration does not describe these tensors: ' + '; '.join(differ))
    return found, found_arch, arch


def _num_heads(arch: dict, dim: int, mlp_dim: int, notes: List[str]) -> int:
    """The configured heads, else those of the LocCaViT arch with these widths (noted)."""
    from ..locca_vit import LocCaViT
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
    return num_heads


def _act_layer(act_cfg: Optional[dict], notes: List[str]) -> dict:
    """timm's ``act_layer`` for the backbone's ``act_cfg`` (None: timm's default, exact GELU)."""
    if act_cfg is None or (dict(act_cfg).get('type') == 'GELU'
                           and dict(act_cfg).get('approximate', 'none') == 'none'):
        return {}
    if dict(act_cfg) == dict(type='GELU', approximate='tanh'):
        notes.append("tanh GELU (big_vision's): act_layer='gelu_tanh'")
        return dict(act_layer='gelu_tanh')
    raise ValueError(f'act_cfg={act_cfg}: only the exact and the tanh GELU have a timm '
                     'counterpart here')


def _check_expressible(backbone: dict, depth: int) -> None:
    """ValueError for what timm's ``VisionTransformer`` cannot do: another LayerNorm eps,
    window attention."""
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


def _export_positions(out: Dict[str, Tensor], img_size, patch: int, dim: int,
                      notes: List[str]) -> Tuple[int, int]:
    """The patch grid of timm's table; a sin-cos encoder's table is written into ``out``."""
    img = _pair(img_size)
    if 'pos_embed' not in out:
        if img is None:
            img = (224, 224)
            notes.append('fixed sin-cos positions and no img_size given: exported for 224 px')
        grid = (img[0] // patch, img[1] // patch)
        out['pos_embed'] = sincos_2d(*grid, dim).to(out['patch_embed.proj.weight'].dtype)
        notes.append('fixed 2-D sin-cos positions stored as timm\'s pos_embed; at another input '
                     'size timm resamples this table (bicubic), LocCaViT recomputes it')
        return grid
    n = out['pos_embed'].shape[1]
    if img is not None and (img[0] // patch) * (img[1] // patch) == n:
        return (img[0] // patch, img[1] // patch)
    try:
        side, _ = grid_size_of(n)
    except ValueError as e:
        raise ValueError(f'{e}: give img_size') from None
    if img is not None:
        notes.append(f'configured img_size {list(img)} differs from the position table '
                     f'({side}x{side} patches): exported for {side * patch} px inputs')
    return (side, side)


# ------------------------------------------------------------------------------ the pooler
def _rename_pool(pool: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """An ``AttentionPool`` state dict in timm's ``attn_pool.*`` names; KeyError if it is none."""
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
    return out


def _same_act(pool_act_cfg, act_cfg, notes: List[str]) -> None:
    """ValueError unless the pooler's MLP activation is the encoder's (timm shares act_layer)."""
    def name(cfg):
        cfg = dict(cfg or {})
        return 'tanh' if cfg.get('approximate') == 'tanh' else str(cfg.get('type', 'GELU'))
    if pool_act_cfg == 'encoder':
        notes.append('MAP pooler: assumed to use the encoder\'s activation, as timm\'s '
                     'attn_pool does (a config tells)')
    elif name(pool_act_cfg) != name(act_cfg):
        raise ValueError(f'the MAP pooler\'s activation ({pool_act_cfg}) differs from the '
                         f'encoder\'s ({act_cfg}): timm\'s attn_pool uses the encoder\'s '
                         'act_layer')


def _pool_to_timm(pool: Mapping[str, Tensor], dim: int, mlp_dim: int, num_heads: int,
                  pool_num_heads: Optional[int], qkv_bias: bool,
                  notes: List[str]) -> Dict[str, Tensor]:
    """An ``AttentionPool`` state dict -> timm ``attn_pool.*`` (checked against the encoder)."""
    out = _rename_pool(pool)
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


def _global_pool(global_pool: Optional[str], pool) -> str:
    """``'map'`` or ``'avg'`` (default: map with a pooler); ValueError otherwise."""
    global_pool = global_pool or ('map' if pool else 'avg')
    if global_pool not in ('map', 'avg'):
        raise ValueError(f"global_pool must be 'map' or 'avg', got {global_pool!r}")
    if global_pool == 'map' and not pool:
        raise ValueError('global_pool=\'map\' needs a MAP pooler, and there is none')
    return global_pool


# ------------------------------------------------------------------------------ the whole
def _model_kwargs(found: dict, arch: dict, grid: Tuple[int, int], global_pool: str,
                  pool_include_prefix: bool, notes: List[str],
                  act_cfg: Optional[dict] = None) -> dict:
    """``timm.create_model`` keyword arguments of the export (``arch`` with its heads)."""
    patch, dim = found['patch_size'], arch['embed_dims']
    kwargs = dict(num_classes=0, global_pool=global_pool, class_token=found['with_cls_token'],
                  img_size=grid[0] * patch if grid[0] == grid[1]
                  else [grid[0] * patch, grid[1] * patch],
                  patch_size=patch, embed_dim=dim, depth=arch['num_layers'],
                  num_heads=arch['num_heads'],
                  mlp_ratio=_mlp_ratio(dim, arch['feedforward_channels']),
                  qkv_bias=found['qkv_bias'])
    if found['in_channels'] != 3:
        kwargs['in_chans'] = found['in_channels']
    if found['with_cls_token']:
        kwargs['no_embed_class'] = True  # LocCaViT adds positions to the patches only
        if pool_include_prefix:
            kwargs['pool_include_prefix'] = True
    if not found['final_norm']:
        kwargs['final_norm'] = False
        notes.append('no final norm: final_norm=False')
    if global_pool == 'avg':
        kwargs['fc_norm'] = False  # the final norm acts on the tokens, before pooling
    kwargs.update(_act_layer(act_cfg, notes))
    return kwargs


def locca_to_timm(state: Mapping[str, Tensor], backbone: Optional[dict] = None,
                  pool: Optional[Mapping[str, Tensor]] = None,
                  pool_num_heads: Optional[int] = None, global_pool: Optional[str] = None,
                  pool_include_prefix: bool = True, pool_act_cfg='encoder') -> TimmExport:
    """Convert a LocCaViT state dict to a timm ``VisionTransformer`` one (reverses timm_to_locca).

    The names are shared: ``timm_to_locca(export.state_dict)`` gives the tensors back
    (``keep_pool=True``: the pooler too). What else changes: this module's docstring.

    Args:
        state: LocCaViT's state dict (no ``backbone.`` prefix).
        backbone: LocCaViT arguments a config gives (``arch``: a name or a partial
            dict); the rest is read off the tensors. ``num_heads`` falls back to the
            LocCaViT arch of the same widths, a sin-cos ``img_size`` to 224 (noted).
        pool: The MAP pooler's state dict (``AttentionPool`` names: ``query``,
            ``attn.q`` ...), or None.
        pool_num_heads: The pooler's heads if known (a config); must equal
            the encoder's.
        global_pool: ``'map'`` or ``'avg'``; default ``'map'`` with a pooler.
        pool_include_prefix: With a class token: whether the pooling sees it
            (LocCaViT's tokens include it; its feature maps do not).
        pool_act_cfg: The pooler's ``act_cfg`` if a config tells (None: exact GELU;
            ``'encoder'``: assumed the encoder's, noted); must be the encoder's.

    Raises:
        KeyError: ``state`` has parameters LocCaViT does not (named) or is no
            LocCaViT encoder; the pooler's keys are not an ``AttentionPool``'s.
        ValueError: ``backbone`` contradicts the tensors; the number of heads is
            unknown; or something timm's ``VisionTransformer`` cannot express
            (named: LayerNorm eps, window attention, the pooler's shape/heads).
    """
    backbone = dict(backbone or {})
    notes: List[str] = []
    out = _encoder_tensors(state)
    found, arch, configured = _read_encoder(out, backbone)
    dim, mlp_dim = arch['embed_dims'], arch['feedforward_channels']
    arch['num_heads'] = _num_heads(configured, dim, mlp_dim, notes)
    _check_expressible(backbone, arch['num_layers'])
    grid = _export_positions(out, backbone.get('img_size'), found['patch_size'], dim, notes)
    global_pool = _global_pool(global_pool, pool)
    if global_pool == 'map':
        out.update(_pool_to_timm(pool, dim, mlp_dim, arch['num_heads'], pool_num_heads,
                                 found['qkv_bias'], notes))
        _same_act(pool_act_cfg, backbone.get('act_cfg'), notes)
    elif pool:
        notes.append('MAP pooler dropped (global_pool=\'avg\')')
    return TimmExport(out, _model_kwargs(found, arch, grid, global_pool, pool_include_prefix,
                                         notes, backbone.get('act_cfg')), notes)
