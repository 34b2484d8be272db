"""timm VisionTransformer (SigLIP / SigLIP 2 included) -> LocCaViT encoder file.

    python tools/model_converters/timm_vit.py IN OUT [--img-size 256] [--drop-prefix-tokens]
        [--keep-pool] [--act gelu|gelu_tanh] [--num-heads N] [--resample timm|bicubic]
    python tools/model_converters/timm_vit.py --model vit_base_patch16_siglip_224 OUT
        [--pretrained] [--keep-pool] [--img-size 256] [--check]

IN is a timm state dict / checkpoint file (``.safetensors``, or a ``.pth`` /
``.bin`` that loads weights-only: one that needs code to unpickle is refused,
with the remedy named); ``--model NAME`` builds the timm model instead (random
weights unless ``--pretrained``, which needs timm's download; its heads and
activation are read off the model). The key mapping (names are the same;
class/register tokens, LayerScale, classifier parts, the MAP pooler) is
documented in ``locca_mm/models/backbones/converters/from_timm.py``.
``--keep-pool`` keeps SigLIP's MAP pooler (``attn_pool``) as ``MAPNeck.pool``
under ``neck.pool.`` (load it with ``init_cfg=dict(type='Pretrained',
checkpoint=OUT, prefix='neck.')``). ``--img-size`` resamples the position
table; ``--resample timm`` (the default) uses timm's own
``resample_abs_pos_embed``, what ``timm.create_model(NAME, img_size=S,
pretrained=True)`` does, ``bicubic`` LocCaViT's. ``--check`` (needs
``--model``) compares timm's ``forward_features`` (and pooled vector) with
LocCaViT's at the checkpoint's size and, with ``--img-size``, at the new size
against timm's model of that size loading the same weights. OUT holds
``backbone.``-prefixed keys: load it with ``init_cfg=dict(type='Pretrained',
checkpoint=OUT, prefix='backbone.')`` and the printed LocCaViT arguments.
"""
import argparse
import os.path as osp

import torch

import locca_mm  # noqa: F401
from locca_mm.cli import SetupError, run_cli
from locca_mm.cli.encoder_export import write_converted
from locca_mm.compat.checkpoint_io import load_weights_file
from locca_mm.models.backbones.converters import (
    FLAX_GELU,
    RESAMPLE_METHODS,
    build_encoder,
    build_pool,
    timm_to_locca,
)

ACTS = {'gelu': None, 'gelu_tanh': dict(FLAX_GELU)}


def parse_args(argv=None):
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description='Convert a timm ViT to LocCaViT')
    parser.add_argument('src', nargs='?', help='timm state dict / checkpoint file')
    parser.add_argument('out', help='output encoder file (.pth or .safetensors)')
    parser.add_argument('--model', help='build this timm model instead of reading SRC')
    parser.add_argument('--pretrained', action='store_true',
                        help='with --model: timm\'s pretrained weights (downloads)')
    parser.add_argument('--img-size', type=int, help='resample the position table to this size')
    parser.add_argument('--resample', choices=RESAMPLE_METHODS, default='timm',
                        help='how: timm\'s resample_abs_pos_embed (default) or LocCaViT\'s bicubic')
    parser.add_argument('--drop-prefix-tokens', action='store_true',
                        help='drop class/register tokens and their positions')
    parser.add_argument('--keep-pool', action='store_true',
                        help='keep the MAP pooler (attn_pool) as MAPNeck.pool (neck.pool.)')
    parser.add_argument('--act', choices=sorted(ACTS),
                        help='the MLP activation of SRC (timm act_layer; default gelu); '
                        'read off the model with --model')
    parser.add_argument('--num-heads', type=int, help='attention heads of SRC (no shape tells)')
    parser.add_argument('--check', action='store_true',
                        help='compare with timm\'s forward_features (needs --model)')
    return parser.parse_args(argv)


def model_act(model) -> dict:
    """``act_cfg`` of a timm ViT's MLP activation (None: the exact GELU)."""
    act = model.blocks[0].mlp.act
    if type(act).__name__ == 'GELUTanh' or getattr(act, 'approximate', None) == 'tanh':
        return dict(FLAX_GELU)
    if isinstance(act, torch.nn.GELU) or type(act).__name__ == 'GELU':
        return None
    raise SetupError(f'the timm model\'s MLP activation {type(act).__name__} has no LocCaViT '
                     'counterpart (the exact or the tanh GELU)')


def load_source(args):
    """(timm state dict, timm model or None, heads or None, act_cfg, source name)."""
    if args.model:
        try:
            import timm
            model = timm.create_model(args.model, pretrained=args.pretrained, num_classes=0)
        except Exception as e:  # noqa: BLE001 - unknown names, missing timm, downloads
            raise SetupError(f'cannot build timm model {args.model!r}: {e}') from e
        model.eval()
        return (model.state_dict(), model, model.blocks[0].attn.num_heads, model_act(model),
                args.model)
    if not args.src:
        raise SetupError('give a checkpoint file or --model NAME')
    if not osp.isfile(args.src):
        raise SetupError(f'checkpoint not found: {args.src}')
    try:
        state = load_weights_file(args.src)
    except Exception as e:  # noqa: BLE001 - any read error is the user's file
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SetupError(message if args.src in message else f'cannot read {args.src}: '
                         f'{message}') from e
    if not isinstance(state, dict):
        raise SetupError(f'{args.src} holds no state dict')
    return state, None, args.num_heads, ACTS[args.act or 'gelu'], args.src


def _compare(timm_model, converted, num_heads, size: int) -> float:
    """Largest |timm - LocCaViT| of tokens (and MAP vector) on random ``size`` images."""
    model = build_encoder(converted, num_heads)
    pool = build_pool(converted)
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        theirs = timm_model.forward_features(images)
        tokens = model(images)[0]
        diff = float((theirs - tokens).abs().max())
        if pool is not None:
            pooled = timm_model.forward_head(theirs, pre_logits=True)
            diff = max(diff, float((pooled - pool(tokens)[0]).abs().max()))
    return diff


def check(timm_model, converted, num_heads, name: str, img_size=None, resample='timm') -> float:
    """Largest |timm - LocCaViT| at the checkpoint's size and, with ``img_size``, at that
    size against timm's model of that size loading the same weights its own way."""
    size = converted.backbone['img_size']
    diff = _compare(timm_model, converted, num_heads, size)
    print(f'check: max |LocCaViT - timm| = {diff:.3g} ({size} px)')
    if img_size and img_size != size:
        import timm
        from timm.models.vision_transformer import checkpoint_filter_fn
        big = timm.create_model(name, pretrained=False, num_classes=0, img_size=img_size)
        big.load_state_dict(checkpoint_filter_fn(timm_model.state_dict(), big))
        resized = _compare(big.eval(), converted.at_img_size(img_size, resample), num_heads,
                           img_size)
        print(f'check: max |LocCaViT - timm| = {resized:.3g} ({img_size} px, positions '
              f'resampled: {resample})')
        if resample == 'timm':
            diff = max(diff, resized)
    return diff


def main(argv=None):
    """Convert SRC (or --model), optionally check it against timm, write OUT."""
    args = parse_args(argv)
    state, timm_model, num_heads, act_cfg, source = load_source(args)
    try:
        converted = timm_to_locca(state, args.drop_prefix_tokens, num_heads,
                                  keep_pool=args.keep_pool, act_cfg=act_cfg)
    except (KeyError, ValueError) as e:
        raise SetupError(f'{source}: {e.args[0]}') from e
    if args.check:
        if timm_model is None:
            raise SetupError('--check needs the timm model: use --model NAME')
        if args.drop_prefix_tokens and ('cls_token' in state or 'reg_token' in state):
            print('check: skipped, dropping prefix tokens changes the features by design')
        elif check(timm_model, converted, num_heads, args.model, args.img_size,
                   args.resample) > 1e-4:
            raise SetupError('LocCaViT does not reproduce timm\'s tokens (see above)')
    if args.img_size:
        try:
            converted = converted.at_img_size(args.img_size, args.resample)
        except ImportError as e:
            raise SetupError(f'{e} (or --resample bicubic)') from e
    write_converted(converted, args.out, source)


if __name__ == '__main__':
    run_cli(main)
