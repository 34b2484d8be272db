"""Measure locca_mm side by side and print one JSON object.

    python tools/benchmarks/benchmark.py [--quick] [--batch 8] [--compare-open-clip]
                                         [--sections ...] [--precision {auto,bf16,fp32}]

Every figure comes from this run, on this machine (CUDA when present, else
CPU); the two sides of every ratio are timed in alternation (median of
``--reps``). ``--precision`` (default ``auto``: bfloat16 where the device has
it natively, see :mod:`locca_mm.utils.precision`) is the precision of every
section: bf16 runs each forward under ``torch.autocast(..., bfloat16)`` (weights
and optimizer in float32, as mixed-precision training does), open_clip's side
too; the JSON records ``precision``, why, and on a CPU its bf16 ISA and the
one oneDNN dispatches to. Models are built from the project's configs with a synthetic 32k-word
vocabulary (``--quick``: the tiny encoder and a small vocabulary):

- ``train_step_s``: one optimisation step (forward, backward, AdamW) of Cap and
  LocCa at the same encoder, batch and text lengths (64 caption tokens, region
  rows as long as their content, ~16), and ``locca_over_cap``;
  ``forward_gflops_per_image`` (counted with ``torch.utils.flop_counter``) for
  Cap, LocCa, and LocCa as it would be with region rows padded to the caption
  length or the visual K/V re-projected for every task;
- ``decode_tokens_per_s`` with and without the KV cache, ``kv_cache_speedup``
  (64 new tokens, greedy; the decoding loop only: the visual memory is computed
  once before, its time is ``decode_encode_s``);
- ``rec_eval_images_per_s`` for REC evaluation with each image encoded once
  vs. once per expression (3 expressions an image);
- ``peak_mem_mb`` (CUDA: max allocated during the LocCa step; CPU: peak RSS);
- ``samples_per_s_per_worker`` of the data pipeline;
- ``--compare-open-clip``: open_clip's CoCa built at our CoCa's size (ViT-B/16,
  6 unimodal + 6 multimodal decoder layers of width 768, 256-query attentional
  pooler, same vocabulary, batch and text length): ``vs_open_clip_coca_train``
  and ``vs_open_clip_coca_generate`` (their time / ours; 64 new tokens, greedy,
  end to end: encoding the images included on both sides);
- on CUDA, ``mfu`` of the ViT-B LocCa step in bfloat16;
- ``--profile`` (with the train section): ``profile_top``, the operators with
  the most self time in one Cap and one LocCa step: [name, ms, calls, %];
- ``--sections val`` (only when named): ``validation.cost_fraction``, the time
  of one validation pass of a pretraining config (``--val-config``; the demo's
  tiny LocCa by default) over ``val_interval`` training steps of it, both timed
  in one runner (steps after 5 warm-up ones).
- ``--sections transfer`` (only when named): ``maskrcnn_vit_b_step_s``, one
  training step (forward, backward, AdamW with layer decay) of
  ``configs/mmdet/mask-rcnn_locca-vit-b_simplefpn_lsj-100e_coco.py`` on
  1024 x 1024 inputs with 8 objects an image (``--transfer-batch`` images; 1 on
  CPU, 4 on CUDA as in ViTDet); float32 on a CPU in any ``--precision``
  (mmcv's CPU RoIAlign has no bfloat16 kernel): ``maskrcnn_precision``.
- ``--sections compile`` (only when named): ``compile``, the LocCa ViT-B
  training step eager and compiled (the static row layout, ``model.loss`` in one
  graph: what ``CompileLossHook`` does to a run), the first compiled call's
  seconds and the speed-up, in the chosen precision.
- ``--sections pseudo_label`` (only when named): ``pseudo_label``, images/s of
  ``tools/dataset_converters/pseudo_label.py --out-dir`` per process with a tiny
  and an OWL-ViT B/32-sized random detector, and an estimate of the GPU-days to
  label 1 B pairs with OWL-ViT B/16 at 768 px
  (``tools/benchmarks/pseudo_label_benchmark.py``).

The measurements are :mod:`locca_mm.cli.bench`'s; this script picks the sections and prints
their JSON.
"""
import argparse
import json
import os
import sys
import tempfile
import time

from locca_mm.cli.bench.common import precision_info, word_tokenizer_file
from locca_mm.cli.bench.data_rates import data_rates
from locca_mm.cli.bench.mask_rcnn import bench_transfer
from locca_mm.cli.bench.open_clip_coca import bench_open_clip
from locca_mm.cli.bench.pseudo_label_rates import pseudo_label_rates
from locca_mm.cli.bench.sections import (
    bench_compile,
    bench_decode,
    bench_mfu,
    bench_rec,
    bench_train,
    bench_val,
)

SECTIONS = ('train', 'decode', 'rec', 'data', 'open_clip', 'mfu', 'transfer', 'val',
            'pseudo_label', 'compile')
OPT_IN = ('transfer', 'val', 'pseudo_label', 'compile')  # measured only when named in --sections
VAL_CONFIG = 'configs/locca/locca_vit-tiny_1xb48-900it_shapes.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Measure locca_mm; prints one JSON object')
    parser.add_argument('--quick', action='store_true',
                        help='tiny models and few repetitions (seconds; for tests)')
    parser.add_argument('--batch', type=int, default=None,
                        help='images per step (default: 8 on CPU, 64 on CUDA, 2 quick)')
    parser.add_argument('--reps', type=int, default=None, help='timed repetitions')
    parser.add_argument('--compare-open-clip', action='store_true',
                        help='also time open_clip CoCa at our CoCa size')
    parser.add_argument('--precision', choices=['auto', 'bf16', 'fp32'], default='auto',
                        help='auto: bf16 where the device has it natively, else fp32')
    parser.add_argument('--profile', action='store_true',
                        help='with the train section: the top operators of one Cap and one '
                        'LocCa step (torch.profiler, self time) in the JSON')
    parser.add_argument('--data', action='store_true',
                        help='only the data pipeline (the same as --sections data)')
    parser.add_argument('--sections', nargs='+', choices=SECTIONS, default=None,
                        help='what to measure (default: all that apply, except transfer)')
    parser.add_argument('--val-config', default=VAL_CONFIG,
                        help='the pretraining config whose validation cost --sections val '
                             'measures')
    parser.add_argument('--transfer-batch', type=int, default=None,
                        help='images per Mask R-CNN step (default: 1 on CPU, 4 on CUDA)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import torch

    from locca_mm.utils import register_all_modules
    register_all_modules()
    cuda = torch.cuda.is_available()
    device = torch.device('cuda' if cuda else 'cpu')
    args.batch = args.batch or (2 if args.quick else 64 if cuda else 8)
    args.reps = args.reps or (1 if args.quick else 3)
    sections = set(args.sections or (['data'] if args.data else
                                     [s for s in SECTIONS if s not in OPT_IN]))
    if not args.compare_open_clip:
        sections.discard('open_clip')
    out = dict(device=torch.cuda.get_device_name() if cuda else 'cpu',
               torch_threads=torch.get_num_threads(), batch=args.batch, quick=args.quick)
    out.update(precision_info(args, device))
    with tempfile.TemporaryDirectory() as root:
        tokfile = word_tokenizer_file(root, 1000 if args.quick else 32000)
        steps = dict(
            train=lambda: bench_train(args, tokfile, device, out),
            decode=lambda: bench_decode(args, tokfile, device, out),
            rec=lambda: bench_rec(args, tokfile, device, out),
            open_clip=lambda: bench_open_clip(args, tokfile, device, out),
            mfu=lambda: bench_mfu(args, tokfile, out),
            transfer=lambda: bench_transfer(args, device, out),
            val=lambda: bench_val(args, root, out),
            compile=lambda: bench_compile(args, tokfile, device, out),
            pseudo_label=lambda: out.__setitem__('pseudo_label',
                                                 pseudo_label_rates(args.quick)),
            data=lambda: out.__setitem__('samples_per_s_per_worker', data_rates(args.quick)))
        for name in SECTIONS:
            if name not in sections:
                continue
            start = time.time()
            try:
                steps[name]()
            except Exception as e:  # noqa: BLE001 - one failed section keeps the others
                out.setdefault('errors', {})[name] = f'{type(e).__name__}: {e}'
            print(f'[benchmark] {name}: {time.time() - start:.0f} s', file=sys.stderr,
                  flush=True)
    print(json.dumps(out, indent=1, sort_keys=True))
    return out


if __name__ == '__main__':
    os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
    main()
