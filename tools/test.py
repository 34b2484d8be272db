"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``.

Runs the config's ``test_dataloader`` / ``test_evaluator`` and prints the
metrics (also as one JSON line, and into ``--out-metrics`` when given).
``--out`` dumps the raw predictions to a pickle, as in mmdet/mmpretrain.
``--show-dir DIR`` draws every test sample's prediction (and ground truth)
with ``LocCaVisualizer`` into ``DIR/<image>_<index>.png``; ``--show`` (also)
shows them in a window.
"""
import argparse
import json
import os.path as osp

from mmengine.dist import is_main_process

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
    parser = argparse.ArgumentParser(description='Evaluate a locca_mm checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the predictions to this pickle file')
    parser.add_argument('--out-metrics', help='write the metrics to this JSON file')
    parser.add_argument('--show-dir', help='draw each test prediction into this directory '
                        '(relative to the working directory)')
    parser.add_argument('--show', action='store_true', help='show each drawn prediction')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='--show: seconds each picture stays (0: until a key)')
    parser.add_argument('--interval', type=int, default=1,
                        help='--show/--show-dir: draw every N-th sample (per process)')
    add_runner_args(parser)
    return parser.parse_args(argv)


def merge_args(cfg, args):
    """Apply the command-line options to the config."""
    if not osp.isfile(osp.expanduser(args.checkpoint)):
        raise SetupError(f'checkpoint file not found: {args.checkpoint}')
    apply_runner_args(cfg, args)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if cfg.get('test_dataloader') is None or cfg.get('test_evaluator') is None:
        raise SetupError(f'{args.config} has no test_dataloader/test_evaluator to evaluate')
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SetupError('--out must be a .pkl or .pickle file')
        dump = dict(type='DumpResults', out_file_path=args.out)
        evaluator = cfg.test_evaluator
        cfg.test_evaluator = (list(evaluator) if isinstance(evaluator, (list, tuple))
                              else [evaluator]) + [dump]
    if args.show or args.show_dir:
        if args.interval < 1:
            raise SetupError(f'--interval must be >= 1, got {args.interval}')
        # Registers LocCaVisualizationHook (in every process that runs this tool).
        import locca_mm.engine.hooks.visualization_hook  # noqa: F401
        hook = dict(type='LocCaVisualizationHook', interval=args.interval, show=args.show,
                    wait_time=args.wait_time,
                    out_dir=osp.abspath(args.show_dir) if args.show_dir else None)
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [hook]
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    cfg = merge_args(cfg, args)
    with SetupGuard(cfg.work_dir) as guard:
        runner = build_runner(cfg)
        guard.watch(runner)
        metrics = runner.test()
    if is_main_process():
        line = json.dumps({k: _plain(v) for k, v in metrics.items()}, sort_keys=True)
        print(line)
        if args.out_metrics:
            with open(args.out_metrics, 'w', encoding='utf-8') as f:
                f.write(line + '\n')
    return metrics


def _plain(value):
    return value.item() if hasattr(value, 'item') else value


if __name__ == '__main__':
    run_cli(main)
