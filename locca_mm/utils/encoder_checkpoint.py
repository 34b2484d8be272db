"""Encoder-only checkpoints: read a checkpoint file, pick the encoder, write it for transfer.

An encoder file is ``{'state_dict': {'backbone.<LocCaViT name>': tensor},
'meta': {...}}`` — the keys a full LocCa / Cap / CoCa / CLIP checkpoint has for
its encoder — so one config line loads either kind:
``init_cfg=dict(type='Pretrained', checkpoint=PATH, prefix='backbone.')``.
With a ``.safetensors`` suffix the same keys are stored flat and the meta
goes into the file's string metadata (``'locca_mm'``: JSON).
"""
import json
import math
import os
import os.path as osp
import re
from collections import Counter
from typing import Dict, Mapping, Optional

from torch import Tensor

__all__ = ['ENCODER_PREFIX', 'read_state_dict', 'encoder_state', 'describe_encoder',
           'save_encoder']

ENCODER_PREFIX = 'backbone.'


def read_state_dict(path: str, map_location: str = 'cpu') -> Dict[str, Tensor]:
    """The flat state dict of a ``.safetensors`` file or of any file mmengine reads.

    Local ``.pth`` files load with ``weights_only=True`` (``import locca_mm``
    makes mmengine do so); a ``{'state_dict': ...}`` wrapper is unwrapped.
    """
    if str(path).endswith('.safetensors'):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} is not a checkpoint file')
        from safetensors.torch import load_file
        return load_file(path, device=map_location)
    from mmengine.runner.checkpoint import _load_checkpoint
    state = _load_checkpoint(path, map_location, logger='current')
    if isinstance(state, Mapping) and isinstance(state.get('state_dict'), Mapping):
        state = state['state_dict']
    return dict(state)


def encoder_state(state: Mapping[str, Tensor], prefix: str = ENCODER_PREFIX,
                  source: str = 'the checkpoint') -> Dict[str, Tensor]:
    """The tensors under ``prefix``, with the prefix removed.

    Raises:
        KeyError: nothing is under ``prefix``; the message names the prefixes
            the file does have.
    """
    out = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not out:
        heads = Counter(k.split('.', 1)[0] + '.' for k in state)
        found = ', '.join(f'{h!r} ({n})' for h, n in heads.most_common(8)) or 'no keys at all'
        raise KeyError(f'{source} holds no parameters under the prefix {prefix!r} '
                       f'(it has {found}): is it a locca_mm checkpoint?')
    return out


def load_state_strictly(module, state: Mapping[str, Tensor], source: str, prefix: str,
                        name: str) -> None:
    """Load ``state`` into ``module`` (an ``nn.Module`` called ``name`` in messages), strictly.

    Raises:
        KeyError: missing or unexpected keys, named, with ``source`` and ``prefix``.
        ValueError: tensors of other shapes than the module's, named.
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise KeyError(f'{source} (prefix {prefix!r}) does not match {name}: '
                       f'missing keys {missing}, unexpected keys {unexpected}')
    wrong = [f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
             for k, v in state.items() if v.shape != own[k].shape]
    if wrong:
        raise ValueError(f'{source} (prefix {prefix!r}) has tensors of other shapes '
                         f'than this {name}: {"; ".join(wrong)}')
    module.load_state_dict(state, strict=True)


def describe_encoder(state: Mapping[str, Tensor]) -> dict:
    """Plain facts about a LocCaViT state dict (no prefix): the arch a config must name.

    Raises:
        KeyError: ``state`` has no patch embedding (not a LocCaViT state dict).

    Returns:
        dict with ``embed_dims``, ``num_layers``, ``feedforward_channels``,
        ``patch_size``, ``in_channels``, ``grid`` (of the position table, None
        without one), ``pos_embed`` (``'learn'``, or ``'sincos2d'`` when the
        file has no table) and ``with_cls_token``.
    """
    if 'patch_embed.proj.weight' not in state:
        raise KeyError(f'not a LocCaViT encoder: no patch_embed.proj.weight among '
                       f'{sorted(state)[:5]}...')
    weight = state['patch_embed.proj.weight']  # [D, C, P, P]
    blocks = {int(m.group(1)) for k in state if (m := re.match(r'blocks\.(\d+)\.', k))}
    fc1 = state.get('blocks.0.mlp.fc1.weight')
    pos = state.get('pos_embed')
    grid = None
    if pos is not None:
        side = math.isqrt(pos.shape[1])
        grid = [side, side] if side * side == pos.shape[1] else None
    return dict(embed_dims=int(weight.shape[0]), num_layers=len(blocks),
                feedforward_channels=None if fc1 is None else int(fc1.shape[0]),
                patch_size=int(weight.shape[-1]), in_channels=int(weight.shape[1]),
                grid=grid, pos_embed='learn' if pos is not None else 'sincos2d',
                with_cls_token='cls_token' in state)


def save_encoder(state: Mapping[str, Tensor], out: str, meta: Optional[dict] = None,
                 prefix: str = ENCODER_PREFIX) -> str:
    """Write a LocCaViT state dict (no prefix) as an encoder file; returns ``out``.

    ``.safetensors`` in ``out`` writes safetensors, anything else a torch file
    of tensors and plain containers only (loadable with ``weights_only=True``).
    ``meta`` must be JSON-serialisable.
    """
    tensors = {prefix + k: v.detach().cpu().contiguous() for k, v in state.items()}
    meta = json.loads(json.dumps(meta or {}))  # plain types only, or fail here
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    if out.endswith('.safetensors'):
        from safetensors.torch import save_file
        save_file(tensors, out, metadata={'locca_mm': json.dumps(meta)})
    else:
        import torch
        torch.save({'state_dict': tensors, 'meta': meta}, out)
    return out
