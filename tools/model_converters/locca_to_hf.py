"""LocCaViT encoder (and MAP pooler) -> a Hugging Face ``SiglipVisionModel`` directory.

    python tools/model_converters/locca_to_hf.py SRC OUT_DIR [--config CONFIG] [--no-pool]
        [--num-heads N] [--img-size S] [--check]

SRC is a full LocCa / Cap / CapPa / CoCa / CLIP (or mmpretrain probe)
checkpoint, or an encoder file (``tools/model_converters/extract_encoder.py``,
or a converted one with ``--keep-pool``): the encoder under ``backbone.``, a
MAP pooler, if any, at ``neck.pool.`` (``MAPNeck``) or
``contrastive_head.image_pool.`` (CoCa/CLIP), which becomes SigLIP's ``head``
(``pooler_output``); ``--no-pool`` leaves it out (``vision_use_head=False``).
OUT_DIR receives ``config.json`` and ``model.safetensors``
(``SiglipVisionModel.save_pretrained``) and ``preprocessor_config.json``
(``SiglipImageProcessor``: the input size and the config's normalisation,
LocCa's RGB in [-1, 1] without one), so that::

    from transformers import SiglipVisionModel
    model = SiglipVisionModel.from_pretrained(OUT_DIR)

loads it, e.g. as the vision tower of a LLaVA- or PaliGemma-style model. The
architecture comes from ``--config`` (the model's config: sizes, activation,
LayerNorm eps, the pooler's heads), else from the tensor shapes (the heads
from ``--num-heads`` or the LocCaViT arch of the same widths). The mapping and
what SigLIP cannot express (an error naming it: a class token, no final norm,
window attention, a pooler unlike the encoder) are documented in
``locca_mm/models/backbones/converters/to_hf.py``. ``--check`` loads OUT_DIR
with ``from_pretrained`` and prints its largest difference to LocCaViT's
tokens (and MAP vector).
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict

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
from locca_mm.models.backbones.converters import HF_ACTIVATIONS, HFExport, locca_to_hf
from locca_mm.utils.encoder_checkpoint import ENCODER_PREFIX, encoder_state


def parse_args(argv=None):
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description='Convert a LocCaViT encoder to a Hugging Face SiglipVisionModel directory')
    parser.add_argument('src', help='full checkpoint or encoder file (.pth / .safetensors)')
    parser.add_argument('out_dir', help='output directory (config.json, model.safetensors)')
    parser.add_argument('--config', help='the model\'s config (else: inferred from shapes)')
    parser.add_argument('--no-pool', action='store_true',
                        help='leave a MAP pooler out (vision_use_head=False)')
    parser.add_argument('--num-heads', type=int, help='attention heads (no shape tells them)')
    parser.add_argument('--img-size', type=int,
                        help='input size, for an encoder with fixed sin-cos positions')
    parser.add_argument('--check', action='store_true',
                        help='load OUT_DIR with from_pretrained and compare')
    return parser.parse_args(argv)


def export_checkpoint(args, config: dict, state: Dict[str, torch.Tensor]):
    """(encoder state, pooler state, pooler prefix, the export) of SRC's ``state``."""
    try:
        encoder = encoder_state(state, ENCODER_PREFIX, source=args.src)
    except KeyError as e:
        raise SetupError(e.args[0]) from e
    pool_prefix, pool = (None, {}) if args.no_pool else find_pool(state, args.src)
    if args.config and pool_prefix and pool_prefix not in config['pool_heads']:
        raise SetupError(f'{args.src} has a MAP pooler at {pool_prefix!r} that {args.config} '
                         'does not build: is it the model\'s config? (--no-pool leaves it out)')
    try:
        export = locca_to_hf(encoder, backbone_args(config, args), pool,
                             config['pool_heads'].get(pool_prefix),
                             config['pool_act'].get(pool_prefix, 'encoder'))
    except (KeyError, ValueError) as e:
        raise SetupError(f'{args.src}: {e.args[0]}') from e
    if pool:
        export.notes.insert(0, f'MAP pooler from {pool_prefix!r} -> head')
    if config['mean_std'] is None:
        export.notes.append('input normalisation: LocCa\'s, RGB in [-1, 1] (no config with a '
                            'data_preprocessor tells otherwise)')
    return encoder, pool, export


def save_hf(export: HFExport, out_dir: str, mean_std, meta: dict) -> None:
    """Build ``SiglipVisionModel`` from the export, load it strictly, ``save_pretrained``
    it with its image processor into ``out_dir``, and ``locca_mm_export.json`` beside.

    Raises:
        SetupError: transformers is missing, or the weights do not fit its model (named).
    """
    try:
        from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel
    except ImportError as e:
        raise SetupError(f'writing a Hugging Face model needs transformers: {e}') from e
    model = SiglipVisionModel(SiglipVisionConfig(**export.config))
    try:
        model.load_state_dict(export.state_dict, strict=True)
    except RuntimeError as e:
        raise SetupError(f'the export does not fit SiglipVisionModel: {e}') from e
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    size = export.config['image_size']
    SiglipImageProcessor(size=dict(height=size, width=size), image_mean=list(mean_std[0]),
                         image_std=list(mean_std[1])).save_pretrained(out_dir)
    with open(osp.join(out_dir, 'locca_mm_export.json'), 'w') as f:
        json.dump(meta, f, indent=2)


def check(encoder: Dict[str, torch.Tensor], pool: Dict[str, torch.Tensor], export: HFExport,
          out_dir: str) -> float:
    """Largest |SiglipVisionModel.from_pretrained(out_dir) - LocCaViT| over the tokens (and
    the pooled vector) of random images."""
    from transformers import SiglipVisionModel

    from locca_mm.models import LocCaViT, MAPNeck
    ref = SiglipVisionModel.from_pretrained(out_dir).eval()
    c = export.config
    act = HF_ACTIVATIONS[c['hidden_act']]
    arch = dict(embed_dims=c['hidden_size'], num_layers=c['num_hidden_layers'],
                num_heads=c['num_attention_heads'], feedforward_channels=c['intermediate_size'])
    ours = LocCaViT(arch=arch, img_size=c['image_size'], patch_size=c['patch_size'],
                    in_channels=c['num_channels'], norm_eps=c['layer_norm_eps'],
                    pos_embed='learn' if 'pos_embed' in encoder else 'sincos2d',
                    qkv_bias='blocks.0.attn.qkv.bias' in encoder, act_cfg=act).eval()
    ours.load_state_dict(encoder)
    x = torch.randn(2, c['num_channels'], c['image_size'], c['image_size'],
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        tokens = ours(x)[-1]
        theirs = ref(pixel_values=x)
        diff = float((tokens - theirs.last_hidden_state).abs().max())
        if pool:
            neck = MAPNeck(c['hidden_size'], c['num_attention_heads'],  # SigLIP's head's
                           mlp_ratio=c['intermediate_size'] / c['hidden_size'],
                           act_cfg=act).eval()
            neck.pool.load_state_dict(pool)
            diff = max(diff, float((neck(tokens)[0] - theirs.pooler_output).abs().max()))
    print(f'check: max |LocCaViT - SiglipVisionModel| = {diff:.3g}')
    return diff


def main(argv=None):
    """Convert SRC, write OUT_DIR, print how to load it."""
    args = parse_args(argv)
    if osp.isfile(args.out_dir):
        raise SetupError(f'OUT_DIR is a file ({args.out_dir}): give a directory')
    config = read_config(args.config) if args.config else empty_config()
    encoder, pool, export = export_checkpoint(args, config, read_checkpoint(args.src))
    mean_std = config['mean_std'] or LOCCA_MEAN_STD
    meta = dict(source=osp.abspath(args.src), config=export.config, notes=export.notes,
                pool_prefixes_searched=list(POOL_PREFIXES))
    save_hf(export, args.out_dir, mean_std, meta)
    for note in export.notes:
        print(f'note: {note}')
    print(f'wrote {args.out_dir} ({len(export.state_dict)} tensors); load it with')
    print(f'  transformers.SiglipVisionModel.from_pretrained({args.out_dir!r})')
    if args.check and check(encoder, pool, export, args.out_dir) > 1e-4:
        raise SetupError('Hugging Face does not reproduce LocCaViT\'s features (see above)')


if __name__ == '__main__':
    run_cli(main)
