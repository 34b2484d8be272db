"""Hugging Face SigLIP / SigLIP 2 vision tower -> LocCaViT encoder file.

    python tools/model_converters/hf_siglip.py SRC OUT [--config config.json] [--keep-pool]
        [--num-heads N] [--img-size S] [--resample bicubic|timm] [--check]

SRC is a ``transformers`` model directory (``config.json`` and
``model.safetensors``, sharded ``*.index.json`` or ``pytorch_model.bin``:
``SiglipVisionModel.save_pretrained`` / ``SiglipModel``, e.g. a local copy of
``google/siglip2-base-patch16-224``) or one weights file (``--config`` names
its ``config.json``; without one SigLIP's defaults are assumed and
``--num-heads`` is needed). Pickled files load weights-only: one that needs
code to unpickle is refused, with the remedy named. The key mapping is
documented in ``locca_mm/models/backbones/converters/from_hf.py``; the text
tower of a ``SiglipModel`` is ignored. ``--keep-pool`` keeps the MAP head as
``MAPNeck.pool`` under ``neck.pool.``. ``--img-size`` resamples the position
table (``bicubic``, the default, is what Hugging Face's
``interpolate_pos_encoding`` computes). NaFlex (``Siglip2VisionModel``) stops
with an error naming it. ``--check`` builds ``SiglipVisionModel`` from the
config and compares its ``last_hidden_state`` (and ``pooler_output``) with
LocCaViT's, at the checkpoint's size and, with ``--img-size``, at the new
size against ``interpolate_pos_encoding=True``. OUT holds ``backbone.``-prefixed
keys: load it with ``init_cfg=dict(type='Pretrained', checkpoint=OUT,
prefix='backbone.')`` and the printed LocCaViT arguments.

``--siglip2-towers`` converts a whole ``SiglipModel`` instead (both towers) into a
``SigLIP2`` checkpoint (``backbone.``, ``contrastive_head.image_pool.``,
``contrastive_head.text_encoder.``, ``contrastive_head.logit_scale`` / ``logit_bias``;
OUT a ``.pth``) for a config's ``load_from``, and prints the model settings the towers
need (configs/siglip2/siglip2-stage2_vit-b16-siglip2-init_256xb32-100k_webli.py has them).
"""
import argparse
import json

import torch

import locca_mm  # noqa: F401
from locca_mm.cli import SetupError, run_cli
from locca_mm.cli.encoder_export import write_converted
from locca_mm.models.backbones.converters import (
    RESAMPLE_METHODS,
    build_encoder,
    build_pool,
    hf_siglip_to_locca,
    hf_vision_config,
)
from locca_mm.models.backbones.converters.from_hf import load_hf_checkpoint


def parse_args(argv=None):
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description='Convert a Hugging Face SigLIP vision tower '
                                     'to LocCaViT')
    parser.add_argument('src', help='model directory or weights file')
    parser.add_argument('out', help='output encoder file (.pth or .safetensors)')
    parser.add_argument('--config', help='config.json (default: the one beside SRC)')
    parser.add_argument('--keep-pool', action='store_true',
                        help='keep the MAP head as MAPNeck.pool (neck.pool.)')
    parser.add_argument('--num-heads', type=int, help='attention heads, without a config')
    parser.add_argument('--img-size', type=int, help='resample the position table to this size')
    parser.add_argument('--resample', choices=RESAMPLE_METHODS, default='bicubic',
                        help='how: bicubic (Hugging Face\'s and LocCaViT\'s, default) or timm\'s')
    parser.add_argument('--siglip2-towers', action='store_true',
                        help='a whole SiglipModel (both towers) -> a SigLIP2 checkpoint (.pth)')
    parser.add_argument('--check', action='store_true',
                        help='compare with transformers\' SiglipVisionModel')
    return parser.parse_args(argv)


def load_source(args):
    """(state dict, config dict or None) of SRC (and --config)."""
    try:
        state, config = load_hf_checkpoint(args.src)
    except Exception as e:  # noqa: BLE001 - missing, unreadable or unsafe files
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SetupError(message if args.src in message else f'cannot read {args.src}: '
                         f'{message}') from e
    if args.config:
        try:
            with open(args.config) as f:
                config = json.load(f)
        except (OSError, ValueError) as e:
            raise SetupError(f'cannot read config {args.config}: {e}') from e
    return state, config


def _reference(state, config, converted):
    """``SiglipVisionModel`` of the config (else of the converted sizes) holding SRC's
    vision tower."""
    from transformers import SiglipVisionConfig, SiglipVisionModel
    vision = hf_vision_config(config)
    if not vision:
        b = converted.backbone
        vision = dict(hidden_size=b['arch']['embed_dims'], num_hidden_layers=b['arch'][
            'num_layers'], num_attention_heads=b['arch']['num_heads'],
            intermediate_size=b['arch']['feedforward_channels'], image_size=b['img_size'],
            patch_size=b['patch_size'])
    model = SiglipVisionModel(SiglipVisionConfig(**vision))
    root = next(k for k in state if k.endswith('embeddings.patch_embedding.weight'))
    root = root[:-len('embeddings.patch_embedding.weight')]
    vision = {'vision_model.' + k[len(root):]: v for k, v in state.items()
              if k.startswith(root)}
    missing, unexpected = model.load_state_dict(vision, strict=False)
    missing = [k for k in missing if not k.startswith('vision_model.head.')]
    if missing or unexpected:
        raise SetupError(f'--check: SRC does not fit SiglipVisionModel: missing {missing}, '
                         f'unexpected {unexpected}')
    return model.eval()


def _compare(ref, converted, size: int, interpolate: bool) -> float:
    """Largest |HF - LocCaViT| of tokens (and MAP vector) on random ``size`` images."""
    model, pool = build_encoder(converted), build_pool(converted)
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = ref(pixel_values=images, interpolate_pos_encoding=interpolate)
        tokens = model(images)[0]
        diff = float((out.last_hidden_state - tokens).abs().max())
        if pool is not None:
            diff = max(diff, float((out.pooler_output - pool(tokens)[0]).abs().max()))
    return diff


def check(state, config, converted, img_size=None, resample='bicubic') -> float:
    """Largest |SiglipVisionModel - LocCaViT| at the checkpoint's size and, with
    ``img_size``, at that size with Hugging Face's ``interpolate_pos_encoding``."""
    ref = _reference(state, config, converted)
    size = converted.backbone['img_size']
    diff = _compare(ref, converted, size, False)
    print(f'check: max |LocCaViT - SiglipVisionModel| = {diff:.3g} ({size} px)')
    if img_size and img_size != size:
        resized = _compare(ref, converted.at_img_size(img_size, resample), img_size, True)
        print(f'check: max |LocCaViT - SiglipVisionModel| = {resized:.3g} ({img_size} px, '
              f'positions resampled: {resample}; Hugging Face: interpolate_pos_encoding)')
        if resample == 'bicubic':
            diff = max(diff, resized)
    return diff


def main(argv=None):
    """Convert SRC, optionally check it against transformers, write OUT."""
    args = parse_args(argv)
    state, config = load_source(args)
    if args.siglip2_towers:
        return write_towers(args, state, config)
    try:
        converted = hf_siglip_to_locca(state, config, keep_pool=args.keep_pool,
                                       num_heads=args.num_heads)
    except (KeyError, ValueError) as e:
        raise SetupError(f'{args.src}: {e.args[0]}') from e
    if converted.backbone['arch']['num_heads'] is None:
        raise SetupError(f'{args.src}: no config tells the attention heads: give --config '
                         'or --num-heads')
    if args.check and check(state, config, converted, args.img_size, args.resample) > 1e-4:
        raise SetupError('LocCaViT does not reproduce SiglipVisionModel\'s features (see above)')
    if args.img_size:
        converted = converted.at_img_size(args.img_size, args.resample)
    write_converted(converted, args.out, args.src)


def write_towers(args, state, config) -> None:
    """``--siglip2-towers``: both towers as a SigLIP2 checkpoint at OUT (a ``.pth``)."""
    from locca_mm.models.backbones.converters import hf_siglip_to_siglip2
    if not args.out.endswith('.pth'):
        raise SetupError(f'--siglip2-towers writes a .pth checkpoint (for load_from), got '
                         f'{args.out}')
    try:
        towers, overrides, notes = hf_siglip_to_siglip2(state, config)
    except (KeyError, ValueError) as e:
        raise SetupError(f'{args.src}: {e.args[0]}') from e
    torch.save({'state_dict': towers, 'meta': dict(source=args.src)}, args.out)
    for note in notes:
        print(f'  {note}')
    print(f'wrote {len(towers)} tensors to {args.out}; the model settings they need:')
    print(json.dumps(overrides, indent=1))


if __name__ == '__main__':
    run_cli(main)
