"""Train a model from a config: ``python tools/train.py CONFIG [options]``.

The mmdet/mmpretrain command line: ``--work-dir``, ``--resume [CKPT]``,
``--amp``, ``--auto-scale-lr``, ``--cfg-options``, ``--launcher``, and ``--dry-run``
(build everything, load one batch, stop). Runs on
CPU or GPU; distributed runs go through ``tools/dist_train.sh`` (torchrun) or
``tools/slurm_train.sh``. A bad config, an unknown ``type`` or a missing
checkpoint stops with a one-line error and leaves the work dir as it was.
"""
import argparse
import os.path as osp
import sys

import locca_mm  # noqa: F401  (applies the mmengine compatibility fixes)
from locca_mm.cli import (
    SetupError,
    SetupGuard,
    add_runner_args,
    apply_runner_args,
    build_runner,
    load_config,
    run_cli,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a locca_mm model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint; without a path, from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true',
        help='mixed precision: float16 autocast with loss scaling on GPU, '
        'bfloat16 autocast on a CPU with native bfloat16 (float32 on one without, said)')
    parser.add_argument(
        '--amp-dtype', choices=['float16', 'bfloat16'], default=None,
        help='autocast dtype for --amp (default: float16 on GPU, bfloat16 on CPU)')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the total batch size / base_batch_size')
    parser.add_argument('--dry-run', action='store_true',
                        help='build the runner, the model, the optimizer and one training '
                        'batch, say what they are, and stop: checks a config without training')
    add_runner_args(parser)
    return parser.parse_args(argv)


def _amp_on_this_machine(args) -> bool:
    """On a CPU, ``--amp`` is bfloat16 autocast where the CPU has native bfloat16; elsewhere
    it would be emulated (slower than float32), so the run stays in float32. Says which."""
    import torch

    from locca_mm.utils.precision import resolve_precision
    if torch.cuda.is_available():
        return True
    precision, why = resolve_precision('bf16', torch.device('cpu'))
    print(f'train.py --amp: {why}' if precision == 'fp32' else
          f'train.py --amp: bfloat16 autocast on CPU ({why.split(": ", 1)[1]})', file=sys.stderr)
    return precision == 'bf16'


def merge_args(cfg, args):
    """Apply the command-line options to the config."""
    apply_runner_args(cfg, args)
    if args.amp and not _amp_on_this_machine(args):
        args.amp = False
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper', 'AutocastOptimWrapper'):
            raise SetupError(f'--amp needs optim_wrapper of type OptimWrapper, got {wrapper}')
        cfg.optim_wrapper.type = 'AutocastOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        if args.amp_dtype is not None:
            cfg.optim_wrapper.dtype = args.amp_dtype

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(osp.expanduser(args.resume)):
            raise SetupError(f'--resume: checkpoint file not found: {args.resume}')
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise SetupError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    return cfg


def dry_run(runner) -> dict:
    """What ``--dry-run`` checks: the optimizer builds and one training batch loads (the
    dataset, its pipeline and tokenizer, the data preprocessor); printed, and returned."""
    optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    loader = runner.build_dataloader(runner._train_dataloader)
    model = getattr(runner.model, 'module', runner.model)  # under DDP, the wrapped model
    batch = model.data_preprocessor(next(iter(loader)), True)
    report = dict(
        model=type(model).__name__,
        parameters=sum(p.numel() for p in model.parameters()),
        trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        optimizer=type(optim_wrapper.optimizer).__name__,
        batch=len(batch['data_samples']),
        inputs=list(batch['inputs'].shape),
        dataset=type(loader.dataset).__name__)
    print('dry run: ' + ', '.join(f'{k} {v}' for k, v in report.items()), flush=True)
    return report


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    cfg = merge_args(cfg, args)
    with SetupGuard(cfg.work_dir) as guard:
        runner = build_runner(cfg)
        guard.watch(runner)
        if args.dry_run:
            runner.dry_run = dry_run(runner)
            return runner
        runner.train()
    return runner


if __name__ == '__main__':
    run_cli(main)
