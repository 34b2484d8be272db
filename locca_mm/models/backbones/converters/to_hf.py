"""``LocCaViT`` (and a MAP pooler) -> Hugging Face ``transformers.SiglipVisionModel``.

The reverse of :mod:`.from_hf`'s table: names under ``vision_model.``, the fused
``qkv`` split into ``q_proj`` / ``k_proj`` / ``v_proj``, the position table as
``embeddings.position_embedding.weight`` [N, D]; a one-query MAP pooler
(``MAPNeck.pool``, ``ContrastiveHead.image_pool``) becomes ``head`` (``probe``,
``attention.in_proj_*`` = q; k; v, ``attention.out_proj``, ``layernorm``,
``mlp``); without one the config says ``vision_use_head=False``. The returned
config is ``SiglipVisionConfig``'s arguments: sizes, ``hidden_act``
(``gelu`` for the exact GELU, ``gelu_pytorch_tanh`` for the tanh one),
``layer_norm_eps``, ``image_size``.

Exact, noted: a fixed sin-cos table is written out as the learned one (at
another input size Hugging Face's ``interpolate_pos_encoding`` resamples it
where LocCaViT recomputes it); ``qkv_bias=False`` becomes zero biases.
Not expressible, hence an error: a class token, no final norm (SigLIP always
applies ``post_layernorm``), window attention, a non-square input, another
activation; a pooler with several queries, or with other heads, another MLP
width or another activation than the encoder, or (with an encoder LayerNorm
eps other than 1e-6) another eps (SigLIP's head shares the encoder's config).
"""
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional

import torch
from torch import Tensor

from .to_timm import _encoder_tensors, _num_heads, _read_encoder, _rename_pool

__all__ = ['HFExport', 'locca_to_hf']

_ROOT = 'vision_model.'
_HF_ACT = {None: 'gelu', 'tanh': 'gelu_pytorch_tanh'}
_POOL_NORM_EPS = 1e-6  # AttentionPool's LayerNorm


@dataclass
class HFExport:
    """A LocCaViT encoder (and MAP pooler) in ``SiglipVisionModel`` names.

    Attributes:
        state_dict: ``SiglipVisionModel`` names -> tensors.
        config: ``transformers.SiglipVisionConfig`` keyword arguments (plain JSON types).
        notes: What was assumed, added or dropped, one line each.
    """

    state_dict: Dict[str, Tensor]
    config: dict
    notes: List[str] = field(default_factory=list)


def _hidden_act(act_cfg: Optional[dict], what: str) -> str:
    """Hugging Face's ``hidden_act`` of an ``act_cfg``; ValueError for another activation."""
    if act_cfg is None:
        return 'gelu'
    act = dict(act_cfg)
    if act.get('type') == 'GELU' and act.get('approximate', 'none') in ('none', 'tanh'):
        return _HF_ACT[None if act.get('approximate', 'none') == 'none' else 'tanh']
    raise ValueError(f'{what} act_cfg={act_cfg}: SigLIP has only the exact GELU (hidden_act='
                     "'gelu') and the tanh GELU ('gelu_pytorch_tanh')")


def _check_expressible(found: dict, backbone: dict, depth: int) -> None:
    """ValueError for what ``SiglipVisionModel`` cannot compute."""
    if found['with_cls_token']:
        raise ValueError('a class token (with_cls_token=True) has no counterpart in SigLIP\'s '
                         'vision model, which embeds patches only')
    if not found['final_norm']:
        raise ValueError('no final norm (final_norm=False): SigLIP always applies '
                         'post_layernorm to the last block\'s output')
    window = backbone.get('window_size') or 0
    global_blocks = {i % depth for i in backbone.get('global_attn_indexes') or ()}
    if window and len(global_blocks) < depth:
        raise ValueError(f'window attention (window_size={window}) has no counterpart in '
                         'SigLIP, which attends globally in every layer; the weights are the '
                         'same: export with window_size=0 to get the global encoder')


def _image_size(out: Dict[str, Tensor], backbone: dict, patch: int, dim: int,
                notes: List[str]) -> int:
    """The square input size of the export; a sin-cos table is written into ``out``."""
    from ...layers import grid_size_of, sincos_2d
    size = backbone.get('img_size')
    if isinstance(size, (list, tuple)):
        if size[0] != size[1]:
            raise ValueError(f'img_size={list(size)}: SigLIP\'s image_size is square')
        size = size[0]
    if 'pos_embed' not in out:
        if size is None:
            size = 224
            notes.append('fixed sin-cos positions and no img_size given: exported for 224 px')
        out['pos_embed'] = sincos_2d(size // patch, size // patch, dim)
        notes.append('fixed 2-D sin-cos positions stored as the learned position_embedding; '
                     'at another input size Hugging Face resamples this table '
                     '(interpolate_pos_encoding), LocCaViT recomputes it')
        return int(size)
    side, _ = grid_size_of(out['pos_embed'].shape[1])
    if size is not None and size // patch != side:
        notes.append(f'configured img_size {size} differs from the position table '
                     f'({side}x{side} patches): exported for {side * patch} px inputs')
    return side * patch


def _encoder_to_hf(out: Dict[str, Tensor], depth: int, dim: int) -> Dict[str, Tensor]:
    """LocCaViT names -> ``SiglipVisionModel`` names (``vision_model.`` root)."""
    hf = {'embeddings.patch_embedding.weight': out['patch_embed.proj.weight'],
          'embeddings.patch_embedding.bias': out['patch_embed.proj.bias'],
          'embeddings.position_embedding.weight': out['pos_embed'][0],
          'post_layernorm.weight': out['norm.weight'], 'post_layernorm.bias': out['norm.bias']}
    for i in range(depth):
        src, dst = f'blocks.{i}.', f'encoder.layers.{i}.'
        qkv_w = out[src + 'attn.qkv.weight']
        qkv_b = out.get(src + 'attn.qkv.bias')
        if qkv_b is None:
            qkv_b = qkv_w.new_zeros(3 * dim)
        for j, n in enumerate('qkv'):
            hf[f'{dst}self_attn.{n}_proj.weight'] = qkv_w[j * dim:(j + 1) * dim]
            hf[f'{dst}self_attn.{n}_proj.bias'] = qkv_b[j * dim:(j + 1) * dim]
        for p in ('weight', 'bias'):
            hf[f'{dst}self_attn.out_proj.{p}'] = out[f'{src}attn.proj.{p}']
            hf[f'{dst}layer_norm1.{p}'] = out[f'{src}norm1.{p}']
            hf[f'{dst}layer_norm2.{p}'] = out[f'{src}norm2.{p}']
            hf[f'{dst}mlp.fc1.{p}'] = out[f'{src}mlp.fc1.{p}']
            hf[f'{dst}mlp.fc2.{p}'] = out[f'{src}mlp.fc2.{p}']
    return {_ROOT + k: v.contiguous() for k, v in hf.items()}


def _pool_to_hf(pool: Mapping[str, Tensor], dim: int, mlp_dim: int, num_heads: int,
                pool_num_heads: Optional[int], hidden_act: str, pool_act_cfg,
                eps: float, notes: List[str]) -> Dict[str, Tensor]:
    """An ``AttentionPool`` state dict -> ``vision_model.head.*`` (checked against the encoder)."""
    _rename_pool(pool)  # KeyError if it is no one-query AttentionPool
    if tuple(pool['query'].shape) != (1, 1, dim):
        raise ValueError(f'the MAP pooler\'s query is {tuple(pool["query"].shape)}: SigLIP\'s '
                         f'head has one probe of the encoder\'s width, (1, 1, {dim})')
    hidden = pool['mlp.fc1.weight'].shape[0]
    if hidden != mlp_dim:
        raise ValueError(f'the MAP pooler\'s MLP width {hidden} differs from the encoder\'s '
                         f'{mlp_dim}: SigLIP\'s head uses the encoder\'s intermediate_size')
    if pool_num_heads is None:
        notes.append(f'MAP pooler: assumed to use the encoder\'s {num_heads} heads, as SigLIP\'s '
                     'head does (a config tells)')
    elif pool_num_heads != num_heads:
        raise ValueError(f'the MAP pooler has {pool_num_heads} heads, the encoder {num_heads}: '
                         'SigLIP\'s head uses the encoder\'s num_attention_heads')
    if pool_act_cfg == 'encoder':
        notes.append(f'MAP pooler: assumed to use the encoder\'s activation ({hidden_act}), '
                     'as SigLIP\'s head does (a config tells)')
    elif _hidden_act(pool_act_cfg, 'the MAP pooler\'s') != hidden_act:
        raise ValueError(f'the MAP pooler\'s activation ({pool_act_cfg}) differs from the '
                         f'encoder\'s ({hidden_act}): SigLIP\'s head uses the encoder\'s '
                         'hidden_act')
    if eps != _POOL_NORM_EPS:
        raise ValueError(f'norm_eps={eps}: SigLIP\'s head shares the encoder\'s layer_norm_eps, '
                         f'and the MAP pooler\'s LayerNorm uses {_POOL_NORM_EPS}')
    head = {'probe': pool['query'],
            'attention.in_proj_weight': torch.cat([pool['attn.q.weight'],
                                                   pool['attn.kv.weight']]),
            'attention.in_proj_bias': torch.cat([pool['attn.q.bias'], pool['attn.kv.bias']])}
    for p in ('weight', 'bias'):
        head[f'attention.out_proj.{p}'] = pool[f'attn.proj.{p}']
        head[f'layernorm.{p}'] = pool[f'norm.{p}']
        head[f'mlp.fc1.{p}'] = pool[f'mlp.fc1.{p}']
        head[f'mlp.fc2.{p}'] = pool[f'mlp.fc2.{p}']
    return {f'{_ROOT}head.{k}': v.detach().clone().contiguous() for k, v in head.items()}


def locca_to_hf(state: Mapping[str, Tensor], backbone: Optional[dict] = None,
                pool: Optional[Mapping[str, Tensor]] = None,
                pool_num_heads: Optional[int] = None, pool_act_cfg='encoder') -> HFExport:
    """Convert a LocCaViT state dict (and a MAP pooler) to ``SiglipVisionModel``'s.

    Args:
        state: LocCaViT's state dict (no ``backbone.`` prefix).
        backbone: LocCaViT arguments a config gives (as for
            :func:`~.to_timm.locca_to_timm`, plus ``act_cfg``); what it leaves out
            is read off the tensors, ``num_heads`` falls back to the LocCaViT arch
            of the same widths (noted).
        pool: The MAP pooler's state dict (``AttentionPool`` names), or None
            (``vision_use_head=False``).
        pool_num_heads: The pooler's heads if known (a config); must equal the encoder's.
        pool_act_cfg: The pooler's ``act_cfg`` if known (a config; None is the
            exact GELU); ``'encoder'`` assumes the encoder's (noted).

    Raises:
        KeyError: ``state`` has parameters LocCaViT does not (named) or is no
            encoder; ``pool`` is no one-query ``AttentionPool``.
        ValueError: what ``SiglipVisionModel`` cannot express (see the module docstring).
    """
    backbone = dict(backbone or {})
    out = _encoder_tensors(state)
    found, found_arch, arch = _read_encoder(out, backbone)
    notes: List[str] = []
    dim, depth = found_arch['embed_dims'], found_arch['num_layers']
    mlp_dim = found_arch['feedforward_channels']
    _check_expressible(found, backbone, depth)
    heads = _num_heads(arch, dim, mlp_dim, notes)
    hidden_act = _hidden_act(backbone.get('act_cfg'), 'the encoder\'s')
    eps = float(backbone.get('norm_eps', 1e-6))
    patch = found['patch_size']
    image_size = _image_size(out, backbone, patch, dim, notes)
    if not found['qkv_bias']:
        notes.append('qkv_bias=False: written as zero q/k/v biases (SigLIP always has them)')
    hf = _encoder_to_hf(out, depth, dim)
    config = dict(hidden_size=dim, intermediate_size=mlp_dim, num_hidden_layers=depth,
                  num_attention_heads=heads, num_channels=found['in_channels'],
                  image_size=image_size, patch_size=patch, hidden_act=hidden_act,
                  layer_norm_eps=eps)
    if pool:
        hf.update(_pool_to_hf(pool, dim, mlp_dim, heads, pool_num_heads, hidden_act,
                              pool_act_cfg, eps, notes))
    else:
        config['vision_use_head'] = False
        notes.append('no MAP pooler: vision_use_head=False (pooler_output is None)')
    return HFExport(hf, config, notes)
