"""LocCaViT encoder (and MAP pooler) -> timm VisionTransformer weights.

    python tools/model_converters/locca_to_timm.py SRC DST [--config CONFIG] [--global-pool map|avg]
        [--model-name NAME] [--num-heads N] [--img-size S] [--check]

SRC is a full LocCa / Cap / CapPa / CoCa / CLIP (or mmpretrain probe)
checkpoint, or an encoder file from ``tools/model_converters/extract_encoder.py`` (``.pth`` or
``.safetensors``): the encoder under ``backbone.``, a MAP pooler, if any, at
``neck.pool.`` (``MAPNeck``) or ``contrastive_head.image_pool.`` (CoCa/CLIP).
DST is written as safetensors if it ends in ``.safetensors``, else as a torch
file of tensors; ``DST.json`` beside it holds the ``timm.create_model``
arguments, which are also printed::

    timm.create_model('vit_base_patch16_224', pretrained=True,
                      pretrained_cfg_overlay=dict(file=DST, ...), num_classes=0,
                      global_pool='map', class_token=False, ...)

The model name only has to exist in timm: the keyword arguments set every
size. ``global_pool`` is ``'map'`` when SRC has a MAP pooler, else ``'avg'``.
The architecture comes from ``--config`` (the model's config), else from the
tensor shapes; the number of heads, which no shape tells, then falls back to
the LocCaViT arch of the same width or ``--num-heads``. The mapping and what
timm cannot express (an error naming it) are documented in
``locca_mm/models/backbones/converters/to_timm.py``. ``--check``
builds the timm model from DST (needs timm) and prints its largest
difference to LocCaViT's tokens (and pooled vector).
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, Optional

import torch

import locca_mm  # noqa: F401
from locca_mm.cli import SetupError, run_cli
from locca_mm.cli.encoder_export import (
    LOCCA_MEAN_STD,
    POOL_PREFIXES,
    backbone_args,
    empty_config,
    find_pool,
    read_checkpoint,
    read_config,
)
from locca_mm.models.backbones.converters import TimmExport, locca_to_timm
from locca_mm.utils.encoder_checkpoint import ENCODER_PREFIX, encoder_state

TIMM_SIZES = {192: 'tiny', 384: 'small', 768: 'base', 1024: 'large', 1280: 'huge'}


def parse_args(argv=None):
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description='Convert a LocCaViT encoder to timm')
    parser.add_argument('src', help='full checkpoint or encoder file (.pth / .safetensors)')
    parser.add_argument('dst', help='output file: .safetensors, else a torch file')
    parser.add_argument('--config', help='the model\'s config (else: inferred from shapes)')
    parser.add_argument('--global-pool', choices=('map', 'avg'),
                        help='timm pooling (default: map if SRC has a MAP pooler, else avg)')
    parser.add_argument('--model-name', help='timm model name to print (any ViT; the '
                        'arguments set the sizes); default: one of the width\'s size')
    parser.add_argument('--num-heads', type=int, help='attention heads (no shape tells them)')
    parser.add_argument('--img-size', type=int,
                        help='input size, for an encoder with fixed sin-cos positions')
    parser.add_argument('--check', action='store_true',
                        help='build the timm model from DST and compare (needs timm)')
    return parser.parse_args(argv)


def default_model_name(kwargs: dict) -> str:
    """A plain timm ViT name of the export's width and patch (timm's own if it has one)."""
    size = TIMM_SIZES.get(kwargs['embed_dim'], 'base')
    img = kwargs['img_size'] if isinstance(kwargs['img_size'], int) else kwargs['img_size'][0]
    names = [f'vit_{size}_patch{kwargs["patch_size"]}_{img}', f'vit_{size}_patch16_224',
             'vit_base_patch16_224']
    try:
        import timm
    except ImportError:
        return names[-1]
    return next(n for n in names if timm.is_model(n))


def create_model_kwargs(export: TimmExport, dst: str, mean_std) -> dict:
    """Everything ``timm.create_model(name, **kwargs)`` needs to load DST (strictly)."""
    kwargs = export.model_kwargs
    size = kwargs['img_size']
    size = [size, size] if isinstance(size, int) else list(size)
    # num_classes=0 here too, so that timm loads the file strictly (it relaxes the load
    # when the model's classes differ from the pretrained config's).
    overlay = dict(file=osp.abspath(dst), num_classes=0, mean=mean_std[0], std=mean_std[1],
                   input_size=[kwargs.get('in_chans', 3)] + size)
    return dict(pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)


def python_call(name: str, kwargs: dict) -> str:
    """``timm.create_model(...)`` as Python source."""
    def show(v):
        """A value as source: dicts as ``dict(k=v, ...)``."""
        if isinstance(v, dict):
            return 'dict(' + ', '.join(f'{k}={show(x)}' for k, x in v.items()) + ')'
        return repr(v)
    return f'timm.create_model({name!r}, ' + ', '.join(
        f'{k}={show(v)}' for k, v in kwargs.items()) + ')'


def save_timm(state: Dict[str, torch.Tensor], dst: str, meta: dict) -> None:
    """Write ``state`` as ``.safetensors`` (meta as JSON metadata) or a torch file."""
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    if dst.endswith('.safetensors'):
        from safetensors.torch import save_file
        save_file(tensors, dst, metadata={'locca_mm': json.dumps(meta)})
    else:
        torch.save(tensors, dst)


def check(encoder: Dict[str, torch.Tensor], pool: Dict[str, torch.Tensor], export: TimmExport,
          name: str, kwargs: dict, pool_heads: Optional[int]) -> float:
    """Largest |timm - LocCaViT| over the tokens (and the pooled vector) of random images."""
    from locca_mm.models import LocCaViT
    from locca_mm.models.layers import AttentionPool
    try:
        import timm
        ref = timm.create_model(name, **kwargs).eval()
    except Exception as e:  # noqa: BLE001 - missing timm, kwargs it rejects
        raise SetupError(f'--check: cannot build timm model {name!r}: {e}') from e
    tk = export.model_kwargs
    act = dict(type='GELU', approximate='tanh') if tk.get('act_layer') == 'gelu_tanh' else None
    arch = dict(embed_dims=tk['embed_dim'], num_layers=tk['depth'], num_heads=tk['num_heads'],
                feedforward_channels=encoder['blocks.0.mlp.fc1.weight'].shape[0])
    ours = LocCaViT(arch=arch, img_size=tk['img_size'], patch_size=tk['patch_size'],
                    in_channels=tk.get('in_chans', 3), with_cls_token=tk['class_token'],
                    pos_embed='learn' if 'pos_embed' in encoder else 'sincos2d',
                    final_norm=tk.get('final_norm', True), qkv_bias=tk['qkv_bias'],
                    act_cfg=act).eval()
    ours.load_state_dict(encoder)
    size = tk['img_size'] if isinstance(tk['img_size'], list) else [tk['img_size']] * 2
    x = torch.randn(2, tk.get('in_chans', 3), *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        tokens = ours(x)[-1]
        theirs = ref.forward_features(x)
        diff = float((tokens.float() - theirs.float()).abs().max())
        if tk['global_pool'] == 'map':
            pooler = AttentionPool(arch['embed_dims'], pool_heads or arch['num_heads'],
                                   mlp_ratio=tk['mlp_ratio'], act_cfg=act).eval()
            pooler.load_state_dict(pool)
            if tk['class_token'] and not tk.get('pool_include_prefix'):
                tokens = tokens[:, 1:]
            pooled = pooler(tokens)[:, 0]
        else:
            pooled = tokens.mean(1) if tk.get('pool_include_prefix') or not tk['class_token'] \
                else tokens[:, 1:].mean(1)
        diff = max(diff, float((pooled - ref.forward_head(theirs, pre_logits=True)).abs().max()))
    print(f'check: max |LocCaViT - timm| = {diff:.3g}')
    return diff


def export_checkpoint(args, config: dict, state: Dict[str, torch.Tensor]):
    """(encoder state, pooler state, pooler heads, the export) of SRC's ``state``."""
    try:
        encoder = encoder_state(state, ENCODER_PREFIX, source=args.src)
    except KeyError as e:
        raise SetupError(e.args[0]) from e
    pool_prefix, pool = find_pool(state, args.src)
    if args.global_pool == 'map' and not pool:
        raise SetupError(f'{args.src} has no MAP pooler (looked under {", ".join(POOL_PREFIXES)} '
                         'and for any one-query AttentionPool): use --global-pool avg')
    pool_heads = config['pool_heads'].get(pool_prefix)
    if args.config and pool_prefix and args.global_pool != 'avg' \
            and pool_prefix not in config['pool_heads']:
        raise SetupError(f'{args.src} has a MAP pooler at {pool_prefix!r} that {args.config} '
                         'does not build: is it the model\'s config?')
    try:
        export = locca_to_timm(encoder, backbone_args(config, args), pool, pool_heads,
                               args.global_pool,
                               pool_include_prefix=config['out_type'] == 'tokens',
                               pool_act_cfg=config['pool_act'].get(pool_prefix, 'encoder'))
    except (KeyError, ValueError) as e:
        raise SetupError(f'{args.src}: {e.args[0]}') from e
    if pool and export.model_kwargs['global_pool'] == 'map':
        export.notes.insert(0, f'MAP pooler from {pool_prefix!r}')
    if config['mean_std'] is None:
        export.notes.append('input normalisation: LocCa\'s, RGB in [-1, 1] (no config with a '
                            'data_preprocessor tells otherwise)')
    return encoder, pool, pool_heads, export


def main(argv=None):
    """Convert SRC, write DST and DST.json, print the ``timm.create_model`` call."""
    args = parse_args(argv)
    if osp.abspath(args.src) == osp.abspath(args.dst):
        raise SetupError(f'DST is SRC ({args.src}): choose another output file')
    config = read_config(args.config) if args.config else empty_config()
    encoder, pool, pool_heads, export = export_checkpoint(args, config,
                                                          read_checkpoint(args.src))
    name = args.model_name or default_model_name(export.model_kwargs)
    try:
        import timm
        if not timm.is_model(name):
            raise SetupError(f'timm has no model {name!r} (see timm.list_models(\'vit_*\'))')
    except ImportError:
        export.notes.append('timm is not installed: the model name is not checked')
    kwargs = create_model_kwargs(export, args.dst, config['mean_std'] or LOCCA_MEAN_STD)
    meta = dict(source=osp.abspath(args.src), model_name=name, kwargs=kwargs,
                notes=export.notes)
    save_timm(export.state_dict, args.dst, meta)
    with open(args.dst + '.json', 'w') as f:
        json.dump(meta, f, indent=2)
    for note in export.notes:
        print(f'note: {note}')
    print(f'wrote {args.dst} ({len(export.state_dict)} tensors) and {args.dst}.json; load it with')
    print(f'  {python_call(name, kwargs)}')
    if args.check and check(encoder, pool, export, name, kwargs, pool_heads) > 1e-4:
        raise SetupError('timm does not reproduce LocCaViT\'s features (see above)')


if __name__ == '__main__':
    run_cli(main)
