"""What the encoder exports (``tools/model_converters/locca_to_timm.py``,
``locca_to_hf.py``) share: reading a checkpoint safely, finding its MAP pooler, and what the
model's config says about the encoder, its pooler and its input."""
import inspect
import os.path as osp
from typing import Dict, Optional, Tuple

import torch

from locca_mm.compat.checkpoint_io import safe_torch_load
from locca_mm.utils.encoder_checkpoint import encoder_state

from .common import SetupError, load_config

__all__ = ['POOL_PREFIXES', 'BACKBONE_KEYS', 'LOCCA_MEAN_STD', 'read_checkpoint', 'find_pool',
           'read_config', 'backbone_args', 'empty_config']

# Where the models put a one-query MAP pooler (an AttentionPool), most specific first.
POOL_PREFIXES = ('neck.pool.', 'contrastive_head.image_pool.')
# LocCaViT arguments that matter for the export (the rest: training, output format).
BACKBONE_KEYS = ('arch', 'img_size', 'patch_size', 'in_channels', 'pos_embed', 'with_cls_token',
                 'final_norm', 'qkv_bias', 'norm_eps', 'window_size', 'global_attn_indexes',
                 'act_cfg')
LOCCA_MEAN_STD = ([0.5] * 3, [0.5] * 3)  # LocCa's pretraining input: RGB in [-1, 1]


def empty_config() -> dict:
    """What :func:`read_config` returns when no config is given."""
    return dict(backbone={}, out_type='tokens', pool_heads={}, pool_act={}, mean_std=None)


def read_checkpoint(path: str) -> Dict[str, torch.Tensor]:
    """The flat state dict of ``path`` (``.safetensors``, or a torch file read weights-only).

    Raises:
        SetupError: the file is missing, unreadable or holds no state dict (named).
    """
    if not osp.isfile(path):
        raise SetupError(f'checkpoint not found: {path}')
    try:
        if path.endswith('.safetensors'):
            from safetensors.torch import load_file
            return load_file(path, device='cpu')
        state = safe_torch_load(path, map_location='cpu')
    except Exception as e:  # noqa: BLE001 - unreadable, unsafe or truncated files
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SetupError(message if path in message else f'cannot read {path}: {message}') from e
    if isinstance(state, dict) and isinstance(state.get('state_dict'), dict):
        state = state['state_dict']
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise SetupError(f'{path} holds no state dict of tensors')
    return state


def find_pool(state: Dict[str, torch.Tensor], source: str
              ) -> Tuple[Optional[str], Dict[str, torch.Tensor]]:
    """(prefix, state dict) of the checkpoint's one-query MAP pooler, or (None, {}).

    Known places (``POOL_PREFIXES``) first, else any ``<prefix>query`` of shape
    [1, 1, D] beside ``<prefix>attn.kv.weight`` (a LocCa head's 256-query
    memory pooler does not count).
    """
    for prefix in POOL_PREFIXES:
        if prefix + 'query' in state:
            return prefix, encoder_state(state, prefix, source)
    found = sorted(k[:-len('query')] for k, v in state.items()
                   if k.endswith('.query') and v.dim() == 3 and v.shape[:2] == (1, 1)
                   and k[:-len('query')] + 'attn.kv.weight' in state)
    if len(found) > 1:
        raise SetupError(f'{source} has several MAP poolers ({found}): use --global-pool avg')
    if found:
        return found[0], encoder_state(state, found[0], source)
    return None, {}


def _plain(value):
    """A config value as plain dicts / lists (ConfigDicts and tuples unwrapped)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _default(cls, name: str):
    """The default of ``cls(...)``'s argument ``name``."""
    return inspect.signature(cls).parameters[name].default


def read_config(path: str) -> dict:
    """What the model's config says about the encoder, its pooler and its input.

    Returns:
        dict with ``backbone`` (the LocCaViT arguments of ``BACKBONE_KEYS`` it
        sets), ``out_type``, ``pool_heads`` (pooler prefix -> heads, for the
        poolers the config builds), ``pool_act`` (pooler prefix -> its MLP's
        ``act_cfg``, None for the exact GELU) and ``mean_std`` (in [0, 1], or None).

    Raises:
        SetupError: no such file, or its ``model.backbone`` is no LocCaViT.
    """
    from locca_mm.models import ContrastiveHead, LocCaViT, MAPNeck
    cfg = load_config(path)
    model = _plain(cfg.get('model') or {})
    backbone = model.get('backbone') or {}
    if str(backbone.get('type', '')).split('.')[-1] != 'LocCaViT':
        raise SetupError(f'{path}: model.backbone is {backbone.get("type")!r}, not a LocCaViT')
    pool_heads, pool_act = {}, {}
    neck = model.get('neck') or {}
    if isinstance(neck, dict) and str(neck.get('type', '')).split('.')[-1] == 'MAPNeck':
        pool_heads['neck.pool.'] = neck.get('num_heads', _default(MAPNeck, 'num_heads'))
        pool_act['neck.pool.'] = neck.get('act_cfg', _default(MAPNeck, 'act_cfg'))
    con = model.get('contrastive_head') or {}
    if con and con.get('pool', _default(ContrastiveHead, 'pool')) == 'map':
        pool_heads['contrastive_head.image_pool.'] = con.get(
            'num_heads', _default(ContrastiveHead, 'num_heads'))
        pool_act['contrastive_head.image_pool.'] = None  # AttentionPool's default
    prep = model.get('data_preprocessor') or _plain(cfg.get('data_preprocessor') or {})
    mean_std = None
    if prep.get('mean') is not None and prep.get('std') is not None:
        mean_std = ([m / 255 for m in prep['mean']], [s / 255 for s in prep['std']])
    return dict(backbone={k: backbone[k] for k in BACKBONE_KEYS if k in backbone},
                out_type=backbone.get('out_type', _default(LocCaViT, 'out_type')),
                pool_heads=pool_heads, pool_act=pool_act, mean_std=mean_std)


def backbone_args(config: dict, args) -> dict:
    """The config's LocCaViT arguments with ``--num-heads`` and ``--img-size`` applied."""
    backbone = dict(config['backbone'])
    if args.num_heads:
        arch = backbone.get('arch') or {}
        if isinstance(arch, str):
            from locca_mm.models import LocCaViT
            try:
                arch = LocCaViT.parse_arch(arch)
            except ValueError:
                pass  # locca_to_timm names the unknown arch
        backbone['arch'] = dict(arch, num_heads=args.num_heads) if isinstance(arch, dict) else arch
    if args.img_size:
        backbone['img_size'] = args.img_size
    return backbone


def write_converted(converted, out: str, source: str) -> None:
    """Write a converter's result (:func:`~locca_mm.models.backbones.converters.save_converted`)
    and print its notes and the LocCaViT (and MAPNeck) arguments its weights need."""
    from locca_mm.models.backbones.converters import save_converted
    save_converted(converted, out, source)
    for note in converted.notes:
        print(f'note: {note}')
    print(f'wrote {out}; LocCaViT arguments: {converted.backbone}')
    if converted.pool:
        print(f'MAPNeck arguments (prefix \'neck.\'): {converted.neck}')
