"""Every transfer protocol for one pretrained checkpoint, into one results table.

    python tools/eval_suite.py CKPT [--suite rec,caption,cls] [--data embedded|real]
                               [--name NAME] [--out work_dirs/eval_suite] [--seeds 1]
                               [--seed 0] [--quick] [--work-dir DIR] [--cfg-options K=V ...]

Comparing two pretrainings is two commands with the same ``--out``::

    python tools/eval_suite.py work_dirs/demo/seed_0/locca/pretrain/iter_900.pth --name LocCa
    python tools/eval_suite.py work_dirs/demo/seed_0/cap/pretrain/iter_900.pth --name Cap

Each run merges its row (``--name``; default: the checkpoint path's last three parts) into
``OUT/results.json`` and rewrites ``OUT/results.md`` (rows = checkpoints, columns =
``suite/metric``), keeping the other rows, and prints the table.

``--data embedded`` (the default) runs the SyntheticShapes protocols in this process, each a
frozen encoder (``encoder_from=CKPT``) and a freshly initialised decoder:

- ``rec``: configs/shapes/rec_tiny_shapes.py, 600 iterations (Acc@0.5 on ref_test);
- ``caption``: configs/shapes/caption-frozen_tiny_shapes.py (CIDEr on held-out images);
- ``cls``: configs/shapes/cls-frozen_tiny_shapes.py (accuracy of the said class name);
- ``rec-aided`` (only when named): configs/shapes/rec-aided_tiny_shapes.py, the demo's REC
  decoder with 2-D key positions, 600 iterations.

``--seeds N`` repeats each with N seeds (training data and randomness; the test sets stay
fixed) and reports mean ± std; the JSON keeps every seed's metrics, and whether the frozen
encoder came out bit-identical to the checkpoint's.

``--data real`` runs the real-data protocols through ``tools/train.py`` and ``tools/test.py``
(one process each): ``rec`` (RefCOCO/+/g, frozen encoder), ``rec-finetune``, ``holistic``
(every configs/holistic config), ``ade20k`` and ``detection``. A config that starts its
decoder pretrained (fine-tuned REC) takes ``model_from=CKPT``, another fine-tuned LocCa model
(detection) ``load_from=CKPT``, every other one ``encoder_from=CKPT``. A config whose data is
not there is reported in the table as ``missing data: <path>`` (a missing config as
``missing config: <path>``, a failed run as ``failed: ...``), and the other configs run.
``--quick`` (a few iterations, 16 test samples) is for the embedded suites' tests.
"""
import argparse
import os.path as osp
import time

from locca_mm.cli import SetupError, run_cli
from locca_mm.cli.eval_suite import (
    EMBEDDED_SUITES,
    REAL_SUITES,
    ROOT,
    ResultsTable,
    config_tag,
    default_name,
    embedded_config,
    headline,
    option_dict,
    parse_suites,
    run_real_config,
    spread,
    suite_configs,
)
from locca_mm.cli.runs import evaluate, train  # the demo's in-process runs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Transfer protocols for one pretrained checkpoint, into one table')
    parser.add_argument('checkpoint', help='the pretrained checkpoint (its backbone.* weights)')
    parser.add_argument('--suite', default='',
                        help='comma-separated suites: embedded: rec, caption, cls (default), '
                        'rec-aided; real (default all): rec, rec-finetune, holistic, ade20k, '
                        'detection')
    parser.add_argument('--data', choices=['embedded', 'real'], default='embedded')
    parser.add_argument('--name', help='row name (default: from the checkpoint path)')
    parser.add_argument('--out', default='work_dirs/eval_suite',
                        help='directory of results.json and results.md')
    parser.add_argument('--work-dir', help='where the runs write (default: OUT/runs/NAME)')
    parser.add_argument('--seeds', type=int, default=1, help='seeds of each embedded suite')
    parser.add_argument('--seed', type=int, default=0, help='the first seed')
    parser.add_argument('--quick', action='store_true',
                        help='a few iterations and 16 test samples (a smoke test)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='overrides for every protocol config')
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f'--seeds must be >= 1, got {args.seeds}')
    return args


def encoder_unchanged(model, checkpoint: str) -> bool:
    """Whether ``model``'s encoder is bit-identical to the checkpoint's ``backbone.*``."""
    import torch

    from locca_mm.compat.checkpoint_io import safe_torch_load
    ckpt = safe_torch_load(checkpoint, map_location='cpu')
    ckpt = ckpt.get('state_dict', ckpt)
    own = model.backbone.state_dict()
    return all(torch.equal(v.cpu(), ckpt[f'backbone.{k}'].cpu()) for k, v in own.items())


# ------------------------------------------------------------------------------ embedded
def run_embedded(suite: str, args, start: float):
    """One embedded suite over ``--seeds``: its table cells and its JSON record."""
    path = suite_configs(suite, 'embedded')[0]
    _, iters, metric = EMBEDDED_SUITES[suite]
    seeds = list(range(args.seed, args.seed + args.seeds))
    per_seed, unchanged, steps = [], [], 0
    for seed in seeds:
        work = osp.join(args.work_dir, suite, f'seed_{seed}')
        cfg = embedded_config(path, args.checkpoint, work, seed, iters, args.quick,
                              option_dict(args.cfg_options))
        runner, _ = train(cfg, f'{suite} s{seed}', start, 2 if args.quick else 100)
        metrics = evaluate(runner.model, cfg.test_dataloader, cfg.test_evaluator)
        per_seed.append({k: float(v) for k, v in metrics.items()})
        unchanged.append(encoder_unchanged(runner.model, args.checkpoint))
        steps = runner.iter
        print(f'[{time.time() - start:6.0f}s] {suite} s{seed}: {metric} '
              f'{per_seed[-1][metric]:.1f}', flush=True)
        del runner
    cells = {f'{suite}/{metric.split("/")[-1]}': spread([m[metric] for m in per_seed])}
    record = dict(config=osp.relpath(path, ROOT), iters=steps, seeds=seeds, metrics=per_seed,
                  encoder_unchanged=all(unchanged))
    if not all(unchanged):
        print(f'warning: {suite}: the frozen encoder changed while training', flush=True)
    return cells, record


# ------------------------------------------------------------------------------ real data
def run_real(suite: str, args):
    """Every config of a real-data suite: its table cells and its JSON record."""
    cells, records = {}, []
    for path in suite_configs(suite, 'real'):
        result, record = run_real_config(path, args)
        tag = config_tag(path)
        if 'note' in result:
            cells[tag] = result
            print(f'{tag}: {result["note"]}', flush=True)
        else:
            for k, v in headline(result, REAL_SUITES[suite][1]).items():
                cells[f'{tag}/{k}'] = spread([v])
        records.append(record)
    return cells, dict(configs=records)


# ------------------------------------------------------------------------------ main
def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise SetupError(f'checkpoint file not found: {args.checkpoint}')
    try:
        suites = parse_suites(args.suite, args.data)
    except ValueError as e:
        raise SetupError(str(e)) from e
    args.checkpoint = osp.abspath(args.checkpoint)
    name = args.name or default_name(args.checkpoint)
    args.work_dir = osp.abspath(args.work_dir or osp.join(
        args.out, 'runs', name.replace('/', '_')))
    from locca_mm.utils import register_all_modules
    register_all_modules()
    start = time.time()
    cells, runs = {}, {}
    for suite in suites:
        suite_cells, runs[suite] = run_embedded(suite, args, start) \
            if args.data == 'embedded' else run_real(suite, args)
        cells.update(suite_cells)
    seeds = list(range(args.seed, args.seed + args.seeds)) if args.data == 'embedded' else []
    row = dict(checkpoint=args.checkpoint, data=args.data, quick=args.quick, seeds=seeds,
               seconds=round(time.time() - start, 1), cells=cells, runs=runs)
    table = ResultsTable(args.out).merge(name, row)
    print('\n' + ResultsTable.markdown(table))
    print(f'\n{osp.join(args.out, "results.md")}, {osp.join(args.out, "results.json")}')
    return table


if __name__ == '__main__':
    run_cli(main)
