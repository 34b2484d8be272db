"""big_vision ViT ``.npz`` -> LocCaViT encoder file.

    python tools/model_converters/big_vision_vit.py IN.npz OUT.pth [--img-size 224] [--keep-pool]
        [--check]

The key mapping is documented in ``locca_mm/models/backbones/converters/big_vision.py``.
``--img-size`` resamples the position table to that input size (bicubic;
LocCaViT also resamples on load). ``--check`` runs big_vision's ViT directly
on the ``.npz`` arrays and LocCaViT on the converted weights and prints the
largest difference of their tokens (with big_vision's tanh GELU in both, as
the converted arguments build LocCaViT, then against an exact-GELU
reference). ``--keep-pool`` keeps the MAP head of a SigLIP / SigLIP 2 image
tower (``MAPHead_0``) as ``MAPNeck.pool`` under ``neck.pool.``. A NaFlex
checkpoint stops with an error naming it. OUT holds ``backbone.``-prefixed
keys: load it with ``init_cfg=dict(type='Pretrained', checkpoint=OUT,
prefix='backbone.')``.
"""
import argparse
import os.path as osp

import numpy as np
import torch

import locca_mm  # noqa: F401
from locca_mm.cli import SetupError, run_cli
from locca_mm.cli.encoder_export import write_converted
from locca_mm.models.backbones.converters import (
    big_vision_to_locca,
    big_vision_vit_forward,
    build_encoder,
)


def parse_args(argv=None):
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description='Convert a big_vision ViT .npz to LocCaViT')
    parser.add_argument('src', help='big_vision checkpoint (.npz)')
    parser.add_argument('out', help='output encoder file (.pth or .safetensors)')
    parser.add_argument('--img-size', type=int, help='resample the position table to this size')
    parser.add_argument('--keep-pool', action='store_true',
                        help='keep the MAP head (MAPHead_0) as MAPNeck.pool (neck.pool.)')
    parser.add_argument('--check', action='store_true',
                        help='compare LocCaViT tokens with big_vision\'s computation')
    return parser.parse_args(argv)


def check(params, converted) -> float:
    """Largest |difference| of tokens, big_vision's tanh GELU in both (the converted
    ``act_cfg``); prints the difference from an exact-GELU reference too."""
    model = build_encoder(converted)
    size = model.grid_size[0] * model.patch_size
    images = torch.randn(2, model.patch_embed.proj.in_channels, size, size,
                         generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = model(images)[0]
        exact = (ours - big_vision_vit_forward(params, images, approximate_gelu=False)).abs()
        tanh = (ours - big_vision_vit_forward(params, images)).abs()
    print(f'check: max |LocCaViT - big_vision| = {tanh.max():.3g} (big_vision\'s tanh GELU, '
          f'as converted), {exact.max():.3g} (against the exact GELU)')
    return float(tanh.max())


def main(argv=None):
    """Convert SRC, optionally check it against big_vision's forward, write OUT."""
    args = parse_args(argv)
    if not osp.isfile(args.src):
        raise SetupError(f'checkpoint not found: {args.src}')
    try:
        params = dict(np.load(args.src, allow_pickle=False))
    except Exception as e:  # noqa: BLE001 - any read error is the user's file
        raise SetupError(f'cannot read {args.src} as .npz: {e}') from e
    try:
        converted = big_vision_to_locca(params, keep_pool=args.keep_pool)
    except KeyError as e:
        raise SetupError(f'{args.src}: {e.args[0]}') from e
    # The check runs at the checkpoint's own grid: resampling changes the table only.
    if args.check and check(params, converted) > 1e-4:
        raise SetupError('LocCaViT does not reproduce big_vision\'s tokens (see above)')
    if args.img_size:
        converted = converted.at_img_size(args.img_size)
    write_converted(converted, args.out, args.src)


if __name__ == '__main__':
    run_cli(main)
