"""Why a fresh decoder can or cannot read location from frozen encoder tokens.

    python tools/analysis_tools/location_diagnostics.py ENCODER.pth [ENCODER.pth ...]
        [--diagnostics plain value_pos whiten oracle_target oracle_objects]
        [--iters 1000] [--seed 0] [--out work_dirs/location_diagnostics.json]
        [--rec-options KEY=VALUE ...]

Each diagnostic trains the plain REC decoder of the embedded protocol
(``configs/shapes/rec_tiny_shapes.py``: frozen encoder, fresh decoder with no
positions on its keys) on one encoder, with one thing changed, and reports
Acc@0.5 on the synthetic referring test split with its validation curve, and
the encoder tokens' position share of variance
(:func:`locca_mm.evaluation.position_share`). ``ENCODER`` is a checkpoint
holding ``backbone.*`` (a pretraining run's) or ``random`` (the untrained
encoder of the config, seeded).

- ``plain``: the protocol as it is.
- ``value_pos``: the 2-D sin-cos code of each token's grid position added to
  the cross-attention *values* (the keys unchanged): position handed to what is
  read, not to what is searched. If this alone lifts the accuracy, position is
  too faint in the tokens' values.
- ``whiten``: the frozen tokens PCA-whitened (mean and covariance of 200
  training images' tokens): every direction of token space at unit variance, so
  a faint position subspace is as loud as the rest.
- ``oracle_target``: cross-attention may only look at the patches that overlap
  the target's box. What is left is reading the position out of those tokens:
  if this fails, position cannot be *read*; if it succeeds where ``plain``
  fails, the decoder cannot *find* the object.
- ``oracle_objects``: only the patches of any object (every object's box): the
  decoder must still tell the objects apart, but not find them among the
  background.

``--train-encoder-after N`` trains the encoder too (end to end, from iteration
``N`` on; ``0``: from the start); with ``random`` that is REC from scratch.
Which block's tokens the decoder reads is a config option of the encoder
(``--rec-options model.backbone.out_indices=1``: the second block's output,
before the final LayerNorm; ``model.backbone.final_norm=False``: the last
block's output before it).
"""
import argparse
import json
import os
import os.path as osp
import time
import types

from mmengine.config import DictAction

DIAGNOSTICS = ('plain', 'value_pos', 'whiten', 'oracle_target', 'oracle_objects')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Location diagnostics of frozen encoders')
    parser.add_argument('encoders', nargs='+', help='checkpoints with backbone.* or "random"')
    parser.add_argument('--diagnostics', nargs='+', choices=DIAGNOSTICS, default=['plain'])
    parser.add_argument('--iters', type=int, default=1000,
                        help='REC decoder iterations (0: the position share only)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default='work_dirs/location_diagnostics.json')
    parser.add_argument('--work-dir', default='work_dirs/location_diagnostics')
    parser.add_argument('--rec-options', nargs='+', action=DictAction, default={},
                        help='config overrides of the REC runs')
    parser.add_argument('--train-encoder-after', type=int, default=None,
                        help='train the encoder too (end to end), from this iteration on '
                        '(its gradients are zero before)')
    parser.add_argument('--quick', action='store_true', help='a smoke test: few steps')
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------ patches
def add_value_positions(model) -> None:
    """Every cross-attention adds W_v · sincos(position) to its values."""
    import torch.nn.functional as F

    from locca_mm.models.layers import grid_size_of, sincos_2d, split_heads

    def project_memory(self, memory, key_pos=None):
        k, v = self.kv(memory).chunk(2, dim=-1)
        h, w = grid_size_of(memory.shape[1])
        pos = sincos_2d(h, w, memory.shape[-1]).to(memory)
        v = v + F.linear(pos, self.kv.weight[k.shape[-1]:])
        return split_heads(k, self.num_heads), split_heads(v, self.num_heads)

    for blk in model.head.decoder.multimodal_blocks:
        blk.cross_attn.project_memory = types.MethodType(project_memory, blk.cross_attn)


def whiten_tokens(model, images) -> None:
    """``model.extract_feat`` returns PCA-whitened tokens (fitted on ``images``)."""
    import torch

    from locca_mm.evaluation import encode_patches
    tokens = encode_patches(model, images).flatten(0, 1).double()
    mean = tokens.mean(0)
    cov = torch.cov((tokens - mean).T)
    evals, evecs = torch.linalg.eigh(cov)
    transform = (evecs / evals.clamp(min=1e-8 * evals.max()).sqrt()).float()
    mean = mean.float()
    extract = model.extract_feat

    def extract_feat(inputs):
        return (extract(inputs) - mean) @ transform

    model.extract_feat = extract_feat


class OracleMask:
    """Restricts every cross-attention to the patches of the target (or of every object).

    The model's ``loss`` and ``predict`` set a mask [B, 1, 1, N] from their data
    samples; every :class:`CrossAttention` of the decoder reads it.
    """

    def __init__(self, model, datasets: dict, objects: bool, patch: int, grid: int):
        self.datasets, self.objects, self.patch, self.grid = datasets, objects, patch, grid
        self.mask = None
        for blk in model.head.decoder.multimodal_blocks:
            blk.cross_attn.forward = self._forward(blk.cross_attn)
        for mode in ('loss', 'predict'):
            setattr(model, mode, self._wrap(getattr(model, mode)))

    def _forward(self, attn):
        from locca_mm.models.layers import attend, merge_heads, split_heads
        oracle = self

        def forward(x, memory_kv, memory_mask=None):
            q = split_heads(attn.q(x), attn.num_heads)
            k, v = memory_kv
            if oracle.mask is None or oracle.mask.shape[0] != q.shape[0]:
                raise RuntimeError('oracle mask missing or not one row per image')
            return attn.proj(merge_heads(attend(q, k, v, attn_mask=oracle.mask,
                                                fused=attn.fused)))
        return forward

    def _wrap(self, method):
        def wrapped(inputs, data_samples, *args, **kwargs):
            self.mask = self.masks(data_samples).to(inputs.device)
            try:
                return method(inputs, data_samples, *args, **kwargs)
            finally:
                self.mask = None
        return wrapped

    def boxes(self, sample):
        """Boxes (input frame, x1 y1 x2 y2) whose patches the decoder may look at."""
        import torch
        if not self.objects:
            if 'gt_ref_bbox' in sample:
                return sample.gt_ref_bbox[None]
            return sample.gt_instances.bboxes[:1]
        shapes, _ = self.datasets[sample.split].scene(sample.sample_idx)
        boxes = torch.tensor([s.box for s in shapes])
        if sample.get('flip', False):
            width = sample.img_shape[1]
            boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
        return boxes

    def masks(self, data_samples):
        """bool [B, 1, 1, N]: the patches that overlap a box of each sample."""
        import torch
        p, g = self.patch, self.grid
        lo = torch.arange(g) * p
        out = []
        for sample in data_samples:
            allowed = torch.zeros(g, g, dtype=torch.bool)
            for x1, y1, x2, y2 in self.boxes(sample).tolist():
                rows = (lo + p > y1) & (lo < y2)
                cols = (lo + p > x1) & (lo < x2)
                allowed |= rows[:, None] & cols[None, :]
            out.append(allowed.flatten())
        return torch.stack(out)[:, None, None]


def hold_encoder_until(runner, model, step: int) -> None:
    """The encoder (made trainable) gets zero gradients before ``step``: a decoder that
    starts on the initial encoder, which then trains end to end."""
    for p in model.backbone.parameters():
        p.requires_grad_(True)
        p.register_hook(lambda g: g * 0 if runner.iter < step else g)


# ------------------------------------------------------------------------------ running
def probe_images(model, num: int, seed: int):
    """``num`` preprocessed training images of the referring split (for whitening)."""
    import torch

    from locca_mm.datasets import SyntheticShapes
    ds = SyntheticShapes(split='ref_train', num_samples=num, seed=seed + 99)
    images = [torch.from_numpy(ds.render(*ds.scene(i)[:1], i)).permute(2, 0, 1).contiguous()
              for i in range(num)]
    return model.data_preprocessor(dict(inputs=images, data_samples=None), False)['inputs']


def run_one(encoder: str, diagnostic: str, args, start: float) -> dict:
    from locca_mm.cli import demo  # the demo's stage configs (tools/demo.py)
    from locca_mm.cli.runs import Progress, evaluate  # the demo's training and evaluation
    from locca_mm.datasets import SyntheticShapes
    from locca_mm.evaluation import encode_patches, position_share
    demo_args = demo.parse_args(['--quick'] if args.quick else [])
    work = osp.join(args.work_dir, osp.splitext(osp.basename(encoder))[0], diagnostic)
    overrides = {} if encoder == 'random' else dict(encoder_from=encoder)
    cfg = demo.stage_config(demo.REC_CONFIGS['plain'], work, args.seed, demo_args,
                            iters=args.iters, options=args.rec_options, **overrides)
    if args.train_encoder_after is not None:
        cfg.model.backbone.frozen_stages = -1
    from locca_mm.cli import build_runner
    cfg.experiment_name = f'diag-{diagnostic}-{os.getpid()}-{time.time():.0f}'
    cfg.visualizer.name = cfg.experiment_name
    cfg.log_level = 'WARNING'
    runner = build_runner(cfg)
    model = runner.model
    model.init_weights()  # the encoder's checkpoint (runner.train() would load it later)
    images = probe_images(model, 20 if args.quick else 200, args.seed)
    share = position_share(encode_patches(model, images))
    if args.iters == 0:
        print(f'{encoder}: position share {share:.1f}%', flush=True)
        return dict(encoder=encoder, position_share=share)
    if diagnostic == 'value_pos':
        add_value_positions(model)
    elif diagnostic == 'whiten':
        whiten_tokens(model, images)
    elif diagnostic.startswith('oracle'):
        patch = model.backbone.patch_size
        patch = patch[0] if isinstance(patch, tuple) else patch
        datasets = {s: SyntheticShapes(split=s, img_size=cfg.test_dataloader.dataset.img_size,
                                       seed=d.get('seed', 0))
                    for s, d in (('ref_train', cfg.train_dataloader.dataset),
                                 ('ref_val', cfg.val_dataloader.dataset),
                                 ('ref_test', cfg.test_dataloader.dataset))}
        OracleMask(model, datasets, diagnostic == 'oracle_objects', patch,
                   model.backbone.grid_size[0])
    if args.train_encoder_after is not None:
        hold_encoder_until(runner, model, args.train_encoder_after)
    progress = Progress(f'{diagnostic} {osp.basename(encoder)}', 100, start)
    runner.register_hook(progress.hook)
    runner.train()
    metrics = evaluate(model, cfg.test_dataloader, cfg.test_evaluator)
    curve = [(it, m.get('refcoco/Acc@0.5')) for it, m in progress.curve]
    result = dict(encoder=encoder, diagnostic=diagnostic, iters=runner.iter,
                  acc=metrics['refcoco/Acc@0.5'], miou=metrics['refcoco/mIoU'], curve=curve,
                  position_share=share, rec_options=dict(args.rec_options))
    print(f'[{time.time() - start:6.0f}s] {encoder} {diagnostic}: Acc@0.5 {result["acc"]:.1f} '
          f'(curve {", ".join(f"{a:.0f}" for _, a in curve if a is not None)}), position '
          f'share {share:.1f}%', flush=True)
    return result


def main(argv=None):
    args = parse_args(argv)
    import torch

    from locca_mm.utils import register_all_modules
    register_all_modules()
    # every core, unless OMP_NUM_THREADS says otherwise (two runs side by side: 1 each)
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS') or os.cpu_count() or 1))
    start = time.time()
    results = []
    for encoder in args.encoders:
        for diagnostic in args.diagnostics if args.iters else ['plain']:
            torch.manual_seed(args.seed)
            results.append(run_one(encoder, diagnostic, args, start))
            os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
            with open(args.out, 'w', encoding='utf-8') as f:
                json.dump(results, f, indent=1)
    print(f'results: {args.out}')
    return results


if __name__ == '__main__':
    main()
