"""timm VisionTransformer -> LocCaViT encoder file.

    python tools/model_converters/timm_vit.py IN OUT [--img-size 224] [--drop-prefix-tokens]
        [--check]
    python tools/model_converters/timm_vit.py --model vit_base_patch16_224 OUT [--pretrained]
        [--check]

IN is a timm state dict / checkpoint file (``.pth``, ``.bin`` or
``.safetensors``); ``--model NAME`` builds the timm model instead (random
weights unless ``--pretrained``, which needs timm's download). The key
mapping (names are the same; class/register tokens, LayerScale, classifier
parts) is documented in ``locca_mm/models/backbones/converters/from_timm.py``.
``--check`` (needs the timm model: ``--model``) compares timm's
``forward_features`` with LocCaViT's tokens and prints the largest
difference. OUT holds ``backbone.``-prefixed keys: load it with
``init_cfg=dict(type='Pretrained', checkpoint=OUT, prefix='backbone.')``.
"""
import argparse
import os.path as osp

import torch

import locca_mm  # noqa: F401
from locca_mm.cli import SetupError, run_cli
from locca_mm.models.backbones.converters import (
    build_encoder,
    save_converted,
    timm_to_locca,
)
from locca_mm.utils.encoder_checkpoint import read_state_dict


def parse_args(argv=None):
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description='Convert a timm ViT to LocCaViT')
    parser.add_argument('src', nargs='?', help='timm state dict / checkpoint file')
    parser.add_argument('out', help='output encoder file (.pth or .safetensors)')
    parser.add_argument('--model', help='build this timm model instead of reading SRC')
    parser.add_argument('--pretrained', action='store_true',
                        help='with --model: timm\'s pretrained weights (downloads)')
    parser.add_argument('--img-size', type=int, help='resample the position table to this size')
    parser.add_argument('--drop-prefix-tokens', action='store_true',
                        help='drop class/register tokens and their positions')
    parser.add_argument('--check', action='store_true',
                        help='compare with timm\'s forward_features (needs --model)')
    return parser.parse_args(argv)


def load_source(args):
    """(timm state dict, timm model or None, heads or None, source name)."""
    if args.model:
        try:
            import timm
            model = timm.create_model(args.model, pretrained=args.pretrained, num_classes=0)
        except Exception as e:  # noqa: BLE001 - unknown names, missing timm, downloads
            raise SetupError(f'cannot build timm model {args.model!r}: {e}') from e
        model.eval()
        return model.state_dict(), model, model.blocks[0].attn.num_heads, args.model
    if not args.src:
        raise SetupError('give a checkpoint file or --model NAME')
    if not osp.isfile(args.src):
        raise SetupError(f'checkpoint not found: {args.src}')
    try:
        return read_state_dict(args.src), None, None, args.src
    except Exception as e:  # noqa: BLE001 - any read error is the user's file
        raise SetupError(f'cannot read {args.src}: {e}') from e


def check(timm_model, converted, num_heads) -> float:
    """Largest |timm forward_features - LocCaViT tokens| on random images."""
    model = build_encoder(converted, num_heads)
    size = model.grid_size[0] * model.patch_size
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (timm_model.forward_features(images) - model(images)[0]).abs().max()
    print(f'check: max |LocCaViT - timm| = {diff:.3g}')
    return float(diff)


def main(argv=None):
    """Convert SRC (or --model), optionally check it against timm, write OUT."""
    args = parse_args(argv)
    state, timm_model, num_heads, source = load_source(args)
    try:
        converted = timm_to_locca(state, args.drop_prefix_tokens, num_heads)
    except KeyError as e:
        raise SetupError(f'{source}: {e.args[0]}') from e
    if args.check:
        if timm_model is None:
            raise SetupError('--check needs the timm model: use --model NAME')
        if args.drop_prefix_tokens and ('cls_token' in state or 'reg_token' in state):
            print('check: skipped, dropping prefix tokens changes the features by design')
        elif check(timm_model, converted, num_heads) > 1e-4:
            raise SetupError('LocCaViT does not reproduce timm\'s tokens (see above)')
    if args.img_size:
        converted = converted.at_img_size(args.img_size)
    save_converted(converted, args.out, source)
    for note in converted.notes:
        print(f'note: {note}')
    print(f'wrote {args.out}; LocCaViT arguments: {converted.backbone}')


if __name__ == '__main__':
    run_cli(main)
