"""Hugging Face ``transformers`` SigLIP vision towers -> ``LocCaViT`` (and ``MAPNeck``).

``SiglipVisionModel`` and ``SiglipModel`` state dicts (fixed-resolution SigLIP
and SigLIP 2: ``google/siglip-*``, ``google/siglip2-*-<size>``) keep the
vision tower under ``vision_model.`` (a PaliGemma-style wrapper adds its own
root, e.g. ``vision_tower.vision_model.``; the root is found by the patch
embedding). Under that root::

    embeddings.patch_embedding                  patch_embed.proj
    embeddings.position_embedding.weight [N, D] pos_embed [1, N, D]
    encoder.layers.i.layer_norm1 / layer_norm2  blocks.i.norm1 / norm2
    encoder.layers.i.self_attn.{q,k,v}_proj     blocks.i.attn.qkv (q; k; v stacked)
    encoder.layers.i.self_attn.out_proj         blocks.i.attn.proj
    encoder.layers.i.mlp.fc1 / fc2              blocks.i.mlp.fc1 / fc2
    post_layernorm                              norm
    head (the MAP head), kept with keep_pool=True as MAPNeck.pool:
      head.probe                                query
      head.attention.in_proj_{weight,bias}      attn.q (first D rows), attn.kv (the rest: k; v)
      head.attention.out_proj                   attn.proj
      head.layernorm, head.mlp.fc1 / fc2        norm, mlp.fc1 / fc2

The model's ``config.json`` (vision part) gives what no tensor does: the
heads, ``hidden_act`` (``gelu_pytorch_tanh``, SigLIP's tanh GELU, becomes
``act_cfg=dict(type='GELU', approximate='tanh')``; ``gelu`` the exact one) and
``layer_norm_eps``. Everything outside the vision root (the text tower,
``logit_scale``, ``logit_bias``) is ignored (noted). Not representable, hence
an error: NaFlex (``Siglip2VisionModel``, ``model_type`` ``siglip2``: a linear
patch embedding and a position table resized per image), other activations.
"""
import json
import os.path as osp
import re
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

from .common import Converted, encoder_args
from .from_timm import NAFLEX_ERROR
from .to_timm import _mlp_ratio

__all__ = ['hf_siglip_to_locca', 'hf_siglip_to_siglip2', 'hf_vision_config', 'load_hf_checkpoint',
           'HF_ACTIVATIONS']

#: Hugging Face ``hidden_act`` -> LocCaViT ``act_cfg`` (None: the exact GELU).
HF_ACTIVATIONS = {'gelu': None, 'gelu_pytorch_tanh': dict(type='GELU', approximate='tanh')}
_PATCH = 'embeddings.patch_embedding.weight'
_LAYER = re.compile(r'^encoder\.layers\.(\d+)\.')


def hf_vision_config(config: Optional[Mapping]) -> dict:
    """The vision part of a Hugging Face config dict (``SiglipConfig``'s ``vision_config``,
    or a ``SiglipVisionConfig`` itself); {} for None.

    Raises:
        ValueError: a NaFlex config (``model_type`` ``siglip2``/``siglip2_vision_model``).
    """
    if not config:
        return {}
    config = dict(config)
    if any(str(c.get('model_type', '')).startswith('siglip2')
           for c in (config, config.get('vision_config') or {})):
        raise ValueError(f'Hugging Face Siglip2 config: {NAFLEX_ERROR}')
    return dict(config.get('vision_config') or config)


_WEIGHT_FILES = ('model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin',
                 'pytorch_model.bin.index.json')


def load_hf_checkpoint(path: str) -> Tuple[Dict[str, Tensor], Optional[dict]]:
    """(state dict, ``config.json`` as a dict or None) of a Hugging Face model directory
    or of one weights file (its directory's ``config.json`` is read if there is one).

    Weights are read by :func:`~locca_mm.compat.checkpoint_io.load_weights_file`:
    safetensors, or a pickle that loads weights-only; sharded checkpoints
    (``*.index.json``) are read shard by shard.

    Raises:
        FileNotFoundError: no such path, or a directory without weights (named).
        CheckpointLoadError: an unreadable or unsafe file (named, with the remedy).
    """
    from locca_mm.compat.checkpoint_io import load_weights_file
    if osp.isdir(path):
        found = [f for f in _WEIGHT_FILES if osp.isfile(osp.join(path, f))]
        if not found:
            raise FileNotFoundError(f'{path} holds none of {list(_WEIGHT_FILES)}')
        folder, weights = path, osp.join(path, found[0])
    elif osp.isfile(path):
        folder, weights = osp.dirname(osp.abspath(path)), path
    else:
        raise FileNotFoundError(f'no such file or directory: {path}')
    if weights.endswith('.index.json'):
        with open(weights) as f:
            shards = sorted(set(json.load(f)['weight_map'].values()))
        state = {}
        for shard in shards:
            state.update(load_weights_file(osp.join(folder, shard)))
    else:
        state = load_weights_file(weights)
    config = None
    if osp.isfile(osp.join(folder, 'config.json')):
        with open(osp.join(folder, 'config.json')) as f:
            config = json.load(f)
    return dict(state), config


def _vision_root(state: Mapping[str, Tensor]) -> str:
    """The prefix before ``embeddings.patch_embedding.weight`` of the vision tower."""
    roots = sorted(k[:-len(_PATCH)] for k in state if k.endswith(_PATCH))
    if not roots:
        sample = sorted(state)[:5]
        raise KeyError(f'not a Hugging Face SigLIP vision tower: no *{_PATCH} '
                       f'(first keys: {sample})')
    if len(roots) > 1:
        raise KeyError(f'several SigLIP vision towers ({roots}): keep one (its keys only)')
    return roots[0]


def _pop_layer(t: Dict[str, Tensor], i: int) -> Dict[str, Tensor]:
    """Pop encoder layer ``i`` out of ``t`` as LocCaViT's ``blocks.i.*``."""
    src, dst = f'encoder.layers.{i}.', f'blocks.{i}.'
    att = src + 'self_attn.'
    out = {}
    for p in ('weight', 'bias'):
        out[f'{dst}norm1.{p}'] = t.pop(f'{src}layer_norm1.{p}')
        out[f'{dst}norm2.{p}'] = t.pop(f'{src}layer_norm2.{p}')
        out[f'{dst}attn.qkv.{p}'] = torch.cat([t.pop(f'{att}{n}_proj.{p}') for n in 'qkv'])
        out[f'{dst}attn.proj.{p}'] = t.pop(f'{att}out_proj.{p}')
        for j in (1, 2):
            out[f'{dst}mlp.fc{j}.{p}'] = t.pop(f'{src}mlp.fc{j}.{p}')
    return out


def _pop_head(t: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Pop the MAP head (``head.*``) out of ``t`` in ``AttentionPool`` names."""
    in_w, in_b = t.pop('head.attention.in_proj_weight'), t.pop('head.attention.in_proj_bias')
    dim = in_w.shape[1]
    out = {'query': t.pop('head.probe'),
           'attn.q.weight': in_w[:dim], 'attn.q.bias': in_b[:dim],
           'attn.kv.weight': in_w[dim:], 'attn.kv.bias': in_b[dim:]}
    for p in ('weight', 'bias'):
        out[f'attn.proj.{p}'] = t.pop(f'head.attention.out_proj.{p}')
        out[f'norm.{p}'] = t.pop(f'head.layernorm.{p}')
        for j in (1, 2):
            out[f'mlp.fc{j}.{p}'] = t.pop(f'head.mlp.fc{j}.{p}')
    return {k: v.contiguous() for k, v in out.items()}


def _pop_encoder(t: Dict[str, Tensor], root: str) -> Dict[str, Tensor]:
    """Pop the embeddings, the layers and the final norm out of ``t`` in LocCaViT names."""
    if t[_PATCH].dim() != 4:
        raise KeyError(f'{root}{_PATCH} is a linear layer: {NAFLEX_ERROR}')
    out = {'patch_embed.proj.weight': t.pop(_PATCH),
           'patch_embed.proj.bias': t.pop('embeddings.patch_embedding.bias'),
           'pos_embed': t.pop('embeddings.position_embedding.weight')[None]}
    for i in sorted({int(m.group(1)) for k in t if (m := _LAYER.match(k))}):
        out.update(_pop_layer(t, i))
    out['norm.weight'] = t.pop('post_layernorm.weight')
    out['norm.bias'] = t.pop('post_layernorm.bias')
    return out


def _check_leftovers(t: Mapping[str, Tensor], root: str, notes: List[str]) -> None:
    """Note a dropped MAP head; anything else left in ``t`` is an error."""
    dropped = sorted(k for k in t if k.startswith('head.'))
    leftover = sorted(set(t) - set(dropped))
    if leftover:
        raise KeyError('Hugging Face SigLIP parameters without a LocCaViT counterpart: '
                       f'{[root + k for k in leftover]}')
    if dropped:
        notes.append(f'dropped (the MAP head; keep_pool keeps it): {len(dropped)} tensors')


def _neck_args(pool: Mapping[str, Tensor], heads: Optional[int], eps: float,
               act_cfg: Optional[dict], notes: List[str]) -> dict:
    """``MAPNeck`` arguments of the kept head; ValueError for an eps MAPNeck lacks."""
    dim = int(pool['query'].shape[-1])
    if eps != 1e-6:
        raise ValueError(f'layer_norm_eps={eps}: MAPNeck\'s LayerNorm uses 1e-6, so the '
                         'kept MAP head would differ (convert without keep_pool)')
    notes.append(f'MAP head kept (head -> MAPNeck.pool, {heads} heads)')
    return dict(in_channels=dim, num_heads=heads or 1,
                mlp_ratio=_mlp_ratio(dim, int(pool['mlp.fc1.weight'].shape[0])),
                act_cfg=None if act_cfg is None else dict(act_cfg))


def _activation(vision: dict, notes: List[str]) -> Optional[dict]:
    """``act_cfg`` of the config's ``hidden_act`` (SigLIP's default: the tanh GELU)."""
    act = vision.get('hidden_act')
    if act is None:
        act = 'gelu_pytorch_tanh'
        notes.append('no config: hidden_act assumed SigLIP\'s gelu_pytorch_tanh (tanh GELU)')
    if act not in HF_ACTIVATIONS:
        raise ValueError(f'hidden_act={act!r} has no LocCaViT counterpart (known: '
                         f'{sorted(HF_ACTIVATIONS)})')
    return HF_ACTIVATIONS[act]


def _check_config(vision: dict, state: Dict[str, Tensor], num_heads: Optional[int]
                  ) -> Tuple[Optional[int], float]:
    """(heads, LayerNorm eps) from the config; ValueError where it contradicts the tensors."""
    dim, _, patch, _ = state['patch_embed.proj.weight'].shape
    differ = []
    if vision.get('hidden_size') not in (None, dim):
        differ.append(f'hidden_size {vision["hidden_size"]} vs {dim}')
    if vision.get('patch_size') not in (None, patch):
        differ.append(f'patch_size {vision["patch_size"]} vs {patch}')
    n = state['pos_embed'].shape[1]
    size = vision.get('image_size')
    if size is not None and (size // patch)**2 != n:
        differ.append(f'image_size {size} ({size // patch}x{size // patch} patches) vs a '
                      f'position table of {n}')
    if differ:
        raise ValueError('the config does not describe these tensors: ' + '; '.join(differ))
    return num_heads or vision.get('num_attention_heads'), float(vision.get('layer_norm_eps',
                                                                            1e-6))


def hf_siglip_to_locca(state: Mapping[str, Tensor], config: Optional[Mapping] = None,
                       keep_pool: bool = False, num_heads: Optional[int] = None) -> Converted:
    """Convert a Hugging Face SigLIP vision tower (``SiglipVisionModel`` / ``SiglipModel``
    state dict) to LocCaViT's; the mapping is in this module's docstring.

    Args:
        state: The state dict (any root before ``embeddings.``; other towers ignored).
        config: The model's ``config.json`` as a dict (``SiglipConfig`` or
            ``SiglipVisionConfig``); None assumes SigLIP's defaults (tanh GELU,
            eps 1e-6) and needs ``num_heads`` for the arch (noted).
        keep_pool: Keep the MAP head (``head.*``) as ``MAPNeck.pool``
            (``Converted.pool``, ``Converted.neck``) instead of dropping it.
        num_heads: The heads, if no config tells.

    Raises:
        KeyError: no vision tower, a NaFlex one, leftover parameters (named), or
            ``keep_pool`` without a head.
        ValueError: a NaFlex config, an activation LocCaViT lacks, or a config
            that contradicts the tensors.
    """
    root = _vision_root(state)
    t = {k[len(root):]: v.detach().float().clone() for k, v in state.items()
         if k.startswith(root)}
    notes = [f'Hugging Face SigLIP vision tower under {root!r}; '
             f'{len(state) - len(t)} parameters outside it ignored']
    vision = hf_vision_config(config)
    out = _pop_encoder(t, root)
    if keep_pool and 'head.probe' not in t:
        raise KeyError(f'keep_pool: no MAP head ({root}head.probe) in the checkpoint')
    pool = _pop_head(t) if keep_pool else {}
    _check_leftovers(t, root, notes)
    heads, eps = _check_config(vision, out, num_heads)
    act_cfg = _activation(vision, notes)
    backbone = encoder_args(out, heads)
    if act_cfg is not None:
        backbone['act_cfg'] = dict(act_cfg)
    if eps != 1e-6:
        backbone['norm_eps'] = eps
    neck = _neck_args(pool, heads, eps, act_cfg, notes) if pool else {}
    if heads is None:
        notes.append('attention heads unknown (no config): give num_heads')
    return Converted(out, backbone, notes, pool, neck)


def _pop_text(t: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Pop a ``SiglipTextModel``'s tensors (under ``text_model.``, root removed) in
    :class:`~locca_mm.models.text.SigLIPTextEncoder` names."""
    out = {'token_embed.weight': t.pop('embeddings.token_embedding.weight'),
           'pos_embed': t.pop('embeddings.position_embedding.weight')[None]}
    for i in sorted({int(m.group(1)) for k in t if (m := _LAYER.match(k))}):
        out.update(_pop_layer(t, i))
    for p in ('weight', 'bias'):
        out[f'norm.{p}'] = t.pop(f'final_layer_norm.{p}')
        out[f'head.{p}'] = t.pop(f'head.{p}')
    return out


def _text_encoder_cfg(text: Mapping[str, Tensor], text_cfg: dict, heads: Optional[int]
                      ) -> dict:
    """The :class:`SigLIPTextEncoder` config of converted text-tower tensors (the heads,
    activation and eps from the ``text_config``; the image tower's heads without one)."""
    dims = text['token_embed.weight'].shape[1]
    act = HF_ACTIVATIONS.get(text_cfg.get('hidden_act', 'gelu_pytorch_tanh'), 'unknown')
    if act == 'unknown':
        raise ValueError(f'text hidden_act {text_cfg.get("hidden_act")!r}: SigLIPTextEncoder '
                         f'runs {sorted(HF_ACTIVATIONS)}')
    return dict(type='SigLIPTextEncoder', embed_dims=dims,
                num_layers=len({k.split('.')[1] for k in text if k.startswith('blocks.')}),
                num_heads=text_cfg.get('num_attention_heads') or heads,
                max_len=text['pos_embed'].shape[1],
                mlp_ratio=text['blocks.0.mlp.fc1.weight'].shape[0] / dims,
                proj_dims=text['head.weight'].shape[0], act_cfg=act,
                norm_eps=text_cfg.get('layer_norm_eps', 1e-6))


def hf_siglip_to_siglip2(state: Mapping[str, Tensor], config: Optional[Mapping] = None
                         ) -> Tuple[Dict[str, Tensor], dict, List[str]]:
    """A Hugging Face ``SiglipModel`` (both towers; SigLIP or fixed-resolution SigLIP 2) as a
    :class:`~locca_mm.models.SigLIP2` state: ``backbone.*`` (the image encoder),
    ``contrastive_head.image_pool.*`` (its MAP head), ``contrastive_head.text_encoder.*`` (a
    :class:`SigLIPTextEncoder`), ``contrastive_head.logit_scale`` / ``logit_bias``.

    Returns:
        (state dict, model overrides for the config: ``backbone`` arguments and the
        ``contrastive_head`` with ``with_proj=False`` and the text tower's shape, notes).

    Raises:
        KeyError: no text tower or leftover text parameters (named); the vision tower's
            errors as :func:`hf_siglip_to_locca`.
    """
    vision = hf_siglip_to_locca({k: v for k, v in state.items()
                                 if not k.startswith('text_model.')}, config, keep_pool=True)
    root = 'text_model.'
    t = {k[len(root):]: v.detach().float().clone() for k, v in state.items()
         if k.startswith(root)}
    if 'embeddings.token_embedding.weight' not in t:
        raise KeyError('not a SiglipModel: no text_model.embeddings.token_embedding.weight')
    text = _pop_text(t)
    if t:
        raise KeyError('text tower parameters without a counterpart: '
                       f'{sorted(root + k for k in t)}')
    heads = vision.backbone.get('arch', {}).get('num_heads')
    encoder = _text_encoder_cfg(text, dict((config or {}).get('text_config') or {}), heads)
    out = {f'backbone.{k}': v for k, v in vision.state_dict.items()}
    out.update({f'contrastive_head.image_pool.{k}': v for k, v in vision.pool.items()})
    out.update({f'contrastive_head.text_encoder.{k}': v for k, v in text.items()})
    for name in ('logit_scale', 'logit_bias'):
        if name not in state:
            raise KeyError(f'not a SiglipModel: no {name}')
        out[f'contrastive_head.{name}'] = state[name].detach().float().reshape(1)
    head = dict(type='ContrastiveHead', loss_type='sigmoid', pool='map', with_proj=False,
                num_heads=vision.neck.get('num_heads', heads), text_encoder=encoder,
                pool_act_cfg=vision.neck.get('act_cfg'),
                pool_mlp_ratio=vision.neck.get('mlp_ratio', 4.0))
    notes = vision.notes + [f'text tower: {encoder["num_layers"]} layers, width '
                            f'{encoder["embed_dims"]}, {encoder["max_len"]} tokens']
    return out, dict(backbone=vision.backbone, contrastive_head=head), notes
