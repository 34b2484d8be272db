"""timm ``VisionTransformer`` state dicts -> ``LocCaViT``.

The names are already LocCaViT's. Dropped: ``head``, ``fc_norm``,
``attn_pool`` (classifier parts); with ``keep_pool=True`` a one-query
``attn_pool`` (SigLIP's MAP head) is kept instead, as ``MAPNeck.pool``
(:class:`~locca_mm.models.layers.AttentionPool`; ``Converted.pool`` and
``Converted.neck``), the reverse of ``to_timm``'s table::

    attn_pool.latent                       query
    attn_pool.q / kv / proj                attn.q / attn.kv / attn.proj
    attn_pool.norm, attn_pool.mlp.fc1/fc2  norm, mlp.fc1, mlp.fc2

The activation is in no tensor: ``act_cfg`` (the tool reads it off a timm
model) goes into both the encoder's and the pooler's arguments. LayerScale
(``ls1.gamma``, ``ls2.gamma``) is folded into ``attn.proj`` / ``mlp.fc2``. A class token is kept as
LocCaViT's ``cls_token`` (``with_cls_token=True``) with its position folded
into it (timm adds the class position to the token; LocCaViT adds positions
to patches only), so the tokens are timm's exactly; ``drop_prefix_tokens=True``
drops class and register tokens and their positions instead (LocCa encoders
have none; the patch tokens then differ from timm's, as the class token no
longer takes part in attention). Not representable, hence an error:
``norm_pre`` (CLIP pre-norm), q/k norms, attention/MLP inner norms, a pooler
with several latents, its own position table or q/k norms, and timm's NaFlex
ViT (``embeds.*``: SigLIP 2's variable-resolution variant).
"""
import math
import re
from typing import Dict, List, Mapping, Optional

from torch import Tensor

from .common import Converted, encoder_args
from .to_timm import _ATTN_POOL_TO_TIMM, _mlp_ratio

__all__ = ['timm_to_locca', 'NAFLEX_ERROR']

#: What a NaFlex checkpoint (SigLIP 2's variable-resolution variant) is told.
NAFLEX_ERROR = ('NaFlex (SigLIP 2\'s variable-resolution variant: patches embedded by a '
                'linear layer, a position table resized per image) has no LocCaViT '
                'counterpart; convert a fixed-resolution SigLIP 2 checkpoint instead '
                '(timm vit_*_siglip_*_<size>.v2_webli, Hugging Face google/siglip2-*-<size>)')

_TIMM_DROPPED = ('head.', 'fc_norm.', 'attn_pool.', 'head_drop.')
_TIMM_UNSUPPORTED = re.compile(
    r'^(norm_pre\.|blocks\.\d+\.(attn\.(q_norm|k_norm|norm)|mlp\.norm)\.)')


def _strip_wrappers(state: Mapping) -> Dict[str, Tensor]:
    """The bare state dict: ``state_dict``/``model``/``module`` wrappers and ``module.`` gone."""
    for key in ('state_dict', 'model', 'module'):
        if isinstance(state.get(key), Mapping):
            state = state[key]
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def _take_pool(src: Dict[str, Tensor], notes: List[str]) -> Dict[str, Tensor]:
    """Pop timm's ``attn_pool.*`` out of ``src`` in ``AttentionPool`` names; ValueError for
    a pooler ``MAPNeck`` cannot hold, KeyError when there is none."""
    pool = {k[len('attn_pool.'):]: src.pop(k) for k in sorted(src)
            if k.startswith('attn_pool.')}
    if not pool:
        raise KeyError('keep_pool: the checkpoint has no attn_pool (a MAP pooler, '
                       'global_pool=\'map\' in timm)')
    out, unknown = {}, []
    for k, v in pool.items():
        for ours, theirs in _ATTN_POOL_TO_TIMM:
            if k == theirs or k.startswith(theirs + '.'):
                out[ours + k[len(theirs):]] = v
                break
        else:
            unknown.append(k)
    if unknown:
        raise ValueError(f'attn_pool parameters MAPNeck has no counterpart for: '
                         f'{["attn_pool." + k for k in unknown]}')
    if out['query'].shape[1] != 1:
        raise ValueError(f'attn_pool has {out["query"].shape[1]} latents: MAPNeck pools with '
                         'one query')
    dim = out['query'].shape[-1]
    for b in ('attn.q.bias', 'attn.kv.bias'):  # timm drops them with qkv_bias=False
        if b not in out:
            rows = out[b.replace('bias', 'weight')].shape[0]
            out[b] = out['query'].new_zeros(rows)
    notes.append(f'MAP pooler kept (attn_pool -> MAPNeck.pool, width {dim})')
    return out


def _drop_classifier(src: Dict[str, Tensor], notes: List[str]) -> None:
    """Refuse what LocCaViT cannot represent; drop the classifier parts (noted)."""
    if any(k.startswith('embeds.') for k in src):
        raise KeyError(f'timm NaFlexVit (embeds.*): {NAFLEX_ERROR}')
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


def _prefix_tokens(src: Dict[str, Tensor], drop_prefix_tokens: bool, notes: List[str]) -> bool:
    """Class / register tokens and their positions, in place; True if a ``cls_token`` stays."""
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
    if num_prefix and drop_prefix_tokens:
        notes.append(f'dropped {num_prefix} prefix token(s) (class/register) and their '
                     'positions: patch features now differ from timm\'s')
        return False
    if reg is not None:
        raise KeyError('timm register tokens (reg_token) have no LocCaViT counterpart: '
                       'convert with drop_prefix_tokens=True')
    if cls is None:
        return False
    src['cls_token'] = cls if prefix_pos is None else cls + prefix_pos
    notes.append('class token kept as cls_token (its position folded in): use '
                 'LocCaViT(with_cls_token=True)')
    return True


def _fold_layer_scale(src: Dict[str, Tensor], notes: List[str]) -> None:
    """LayerScale: x + gamma * proj(y) == x + proj'(y) with proj' rows scaled by gamma."""
    scales = [k for k in src if k.endswith(('.ls1.gamma', '.ls2.gamma'))]
    for k in scales:
        gamma = src.pop(k)
        block = k.rsplit('.', 2)[0]
        target = f'{block}.attn.proj' if k.endswith('ls1.gamma') else f'{block}.mlp.fc2'
        src[target + '.weight'] = src[target + '.weight'] * gamma[:, None]
        src[target + '.bias'] = src[target + '.bias'] * gamma
    if scales:
        notes.append(f'{len(scales)} LayerScale gammas folded into attn.proj / mlp.fc2')


def timm_to_locca(state: Mapping[str, Tensor], drop_prefix_tokens: bool = False,
                  num_heads: Optional[int] = None, keep_pool: bool = False,
                  act_cfg: Optional[dict] = None) -> Converted:
    """Convert a timm ``VisionTransformer`` state dict to LocCaViT's.

    Args:
        state: timm's state dict (a ``state_dict``/``model`` wrapper and a
            ``module.`` prefix are removed).
        drop_prefix_tokens: Drop the class/register tokens and their positions
            (else a class token becomes ``cls_token`` and register tokens are
            an error).
        num_heads: Recorded in ``backbone['arch']`` (a state dict does not tell);
            also the kept pooler's heads (timm's ``attn_pool`` uses the encoder's).
        keep_pool: Keep a one-query ``attn_pool`` as ``MAPNeck.pool``
            (``Converted.pool``, ``Converted.neck``) instead of dropping it.
        act_cfg: The MLPs' activation if not the exact GELU, e.g. timm's
            ``act_layer='gelu_tanh'`` is ``dict(type='GELU', approximate='tanh')``;
            put into the encoder's (and the pooler's) arguments.

    Raises:
        KeyError: parameters LocCaViT cannot represent (named), a NaFlex model,
            or ``keep_pool`` without an ``attn_pool``.
        ValueError: a pooler ``MAPNeck`` cannot hold (several latents, q/k norms).
    """
    src = {k: v.detach().float().clone() for k, v in _strip_wrappers(state).items()}
    notes: List[str] = []
    pool = _take_pool(src, notes) if keep_pool else {}
    _drop_classifier(src, notes)
    with_cls = _prefix_tokens(src, drop_prefix_tokens, notes)
    _fold_layer_scale(src, notes)
    backbone = encoder_args(src, num_heads, with_cls)
    if act_cfg is not None:
        backbone['act_cfg'] = dict(act_cfg)
    neck = {}
    if pool:
        dim = pool['query'].shape[-1]
        neck = dict(in_channels=int(dim), num_heads=num_heads or 1,
                    mlp_ratio=_mlp_ratio(int(dim), int(pool['mlp.fc1.weight'].shape[0])),
                    act_cfg=None if act_cfg is None else dict(act_cfg))
        if num_heads is None:
            notes.append('MAP pooler: heads unknown (give num_heads; timm uses the encoder\'s)')
    return Converted(src, backbone, notes, pool, neck)
