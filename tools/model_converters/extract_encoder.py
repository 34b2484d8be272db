"""Encoder-only weights out of a LocCa / Cap / CapPa / CoCa / CLIP checkpoint.

    python tools/model_converters/extract_encoder.py CKPT OUT [--safetensors] [--prefix backbone.]

OUT keeps the ``backbone.`` prefix, so the transfer configs load it (or the
full checkpoint) with the same line,
``init_cfg=dict(type='Pretrained', checkpoint=OUT, prefix='backbone.')``:
``{'state_dict': {'backbone.<name>': tensor}, 'meta': {...}}`` as a torch
file of tensors and plain values, or with ``--safetensors`` a
``.safetensors`` file (LocCaViT reads it by its suffix). The meta records the
source and the encoder's arch (width, depth, MLP width, patch size,
position-table grid).
"""
import argparse
import os.path as osp

import locca_mm  # noqa: F401  (safe checkpoint loading)
from locca_mm.cli import SetupError, run_cli
from locca_mm.utils.encoder_checkpoint import (
    ENCODER_PREFIX,
    describe_encoder,
    encoder_state,
    read_state_dict,
    save_encoder,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Extract the encoder of a checkpoint')
    parser.add_argument('checkpoint', help='a LocCa / Cap / CoCa / CLIP checkpoint')
    parser.add_argument('out', help='output file (.pth, or .safetensors with --safetensors)')
    parser.add_argument('--safetensors', action='store_true', help='write safetensors')
    parser.add_argument('--prefix', default=ENCODER_PREFIX,
                        help='key prefix of the encoder in CKPT (default: backbone.)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.safetensors != args.out.endswith('.safetensors'):
        raise SetupError('--safetensors and an OUT ending in .safetensors go together '
                         '(LocCaViT picks the reader by the suffix)')
    if not osp.isfile(args.checkpoint):
        raise SetupError(f'checkpoint not found: {args.checkpoint}')
    try:
        full = read_state_dict(args.checkpoint)
        state = encoder_state(full, args.prefix, source=args.checkpoint)
        arch = describe_encoder(state)
    except KeyError as e:
        raise SetupError(e.args[0]) from e
    except Exception as e:  # noqa: BLE001 - unreadable, unsafe or truncated files
        raise SetupError(f'cannot read {args.checkpoint}: {str(e).splitlines()[0]}') from e
    meta = dict(source=osp.abspath(args.checkpoint), prefix=args.prefix, encoder=arch,
                num_tensors=len(state))
    save_encoder(state, args.out, meta)
    print(f'wrote {args.out}: {len(state)} encoder tensors of {len(full)} ({arch})')


if __name__ == '__main__':
    run_cli(main)
