"""``tools/demo.py --recipe siglip2``: SigLIP alone vs SigLIP + LocCa vs SigLIP 2's full recipe
on the embedded SyntheticShapes data, at equal steps, over seeds.

For each seed (pretraining and REC reseeded, test sets fixed), three tiny models of the same
encoder, data, steps and schedule (configs/siglip2/):

- ``siglip``: the two towers and the sigmoid loss (siglip_vit-tiny_1xb48-900it_shapes.py);
- ``siglip_locca``: SigLIP + LocCa's decoder for the whole run (SigLIP 2's first stage);
- ``siglip2``: the full recipe, stage two (self-distillation and masked prediction against an
  EMA teacher) over the last 20 % of the steps (siglip2_vit-tiny_1xb48-900it_shapes.py).

``siglip2`` and ``siglip_locca`` are one run until the switch: ``siglip_locca`` is the full
recipe's checkpoint at the switch, resumed with the switch turned off (the resume is exact,
so it equals a SigLIP + LocCa run from scratch; tests/test_models/test_siglip2.py checks
that the two configs train alike before the switch). That saves 80 % of a pretraining.

Each model is then measured as the LocCa demo measures: the REC protocol (a fresh decoder on
the frozen encoder, ``plain`` and ``aided``), the linear dense probe, and, from its last
pretraining validation, zero-shot classification of the shapes by the two towers (the class
names as captions, scored by the sigmoid logit) and the 10-shot linear probe; the models with
a decoder also their caption CIDEr and their own ARef. Writes ``seed_<s>/results.json``,
``summary.json`` and prints the table.
"""
import json
import os
import os.path as osp
import time

from .demo import PRESETS, REC_CONFIGS, probe_data, stage_config
from .demo_report import spread
from .runs import evaluate, train

MODELS = ('siglip', 'siglip_locca', 'siglip2')
CONFIGS = dict(siglip='siglip2/siglip_vit-tiny_1xb48-900it_shapes',
               siglip2='siglip2/siglip2_vit-tiny_1xb48-900it_shapes')
LABELS = dict(siglip='SigLIP', siglip_locca='SigLIP + LocCa', siglip2='SigLIP 2 (full)')
#: What each model's last pretraining validation contributes to the table.
VAL_KEYS = ('zeroshot/accuracy', 'fewshot/10shot', 'aref/Acc@0.5', 'caption/CIDEr')


def _stage_hook(cfg) -> dict:
    """The config's SigLIP2StageHook entry."""
    for hook in cfg.custom_hooks:
        if hook.get('type') == 'SigLIP2StageHook':
            return hook
    raise KeyError('the full-recipe config has no SigLIP2StageHook')


def config_of(name: str) -> str:
    """The config a model trains with (the SigLIP + LocCa branch: the full recipe's)."""
    return CONFIGS['siglip' if name == 'siglip' else 'siglip2']


def pretrain_config(name: str, seed: int, args, work: str):
    """The pretraining config of one model for one seed, and (models with a stage-two hook)
    the iteration where its stage two starts, as the hook computes it (else None)."""
    from locca_mm.registry import HOOKS
    cfg = stage_config(config_of(name), osp.join(work, name, 'pretrain'), seed, args,
                       10 if args.quick else args.pretrain_iters, args.pretrain_options)
    if name == 'siglip':
        return cfg, None
    return cfg, HOOKS.build(dict(_stage_hook(cfg))).switch_at(cfg.train_cfg.max_iters)


def pretrain(name: str, seed: int, args, work: str, start: float, threads: int) -> dict:
    """Pretrain one model (``siglip_locca`` resumes the full recipe's checkpoint at the switch,
    with the switch off). Returns its checkpoint, steps, validation curve and wall time."""
    import torch

    from locca_mm.utils import register_all_modules
    register_all_modules()
    torch.set_num_threads(threads)
    t0 = time.time()
    cfg, switch = pretrain_config(name, seed, args, work)
    if name == 'siglip2':  # the checkpoint the SigLIP + LocCa branch resumes
        cfg.default_hooks.checkpoint.update(interval=switch, max_keep_ckpts=2)
    elif name == 'siglip_locca':  # resumed there without the hook: stage two never starts
        cfg.custom_hooks = [h for h in cfg.custom_hooks if h.get('type') != 'SigLIP2StageHook']
        cfg.resume = True
        cfg.load_from = switch_checkpoint(work, switch)
    interval = 5 if args.quick else 100
    runner, progress = train(cfg, f's{seed} pretrain {name}', start, interval)
    return dict(checkpoint=osp.join(cfg.work_dir, f'iter_{runner.iter}.pth'),
                pretrain_iters=runner.iter, config=config_of(name),
                val_curve=[(it, {k: m[k] for k in VAL_KEYS if k in m})
                           for it, m in progress.curve],
                final_losses=progress.history[-1] if progress.history else {},
                pretrain_seconds=round(time.time() - t0, 1))


def switch_checkpoint(work: str, switch: int) -> str:
    """The full recipe's checkpoint at the switch (written before stage two starts)."""
    return osp.join(work, 'siglip2', 'pretrain', f'iter_{switch}.pth')


def measure(name: str, seed: int, args, work: str, start: float, probe, threads: int,
            trained: dict) -> dict:
    """Captions and own ARef (models with a decoder), the dense probe and every REC variant
    of one pretrained model."""
    import torch
    from mmengine.runner import load_checkpoint

    from locca_mm.evaluation import linear_dense_probe
    from locca_mm.registry import MODELS as REGISTRY
    from locca_mm.utils import register_all_modules
    register_all_modules()
    torch.set_num_threads(threads)
    t0 = time.time()
    cfg = stage_config(trained['config'], osp.join(work, name, 'pretrain'), seed, args)
    model = REGISTRY.build(cfg.model)
    load_checkpoint(model, trained['checkpoint'], map_location='cpu', logger='silent')
    result = dict(trained)
    if model.head is not None:
        result['captions'] = evaluate(model, cfg.test_dataloader, cfg.test_evaluator)
        ref = stage_config(REC_CONFIGS['plain'], work, seed, args)
        result['own_aref'] = evaluate(model, ref.test_dataloader, ref.test_evaluator)
    (train_split, test_split), classes = probe
    result['dense_probe'] = linear_dense_probe(model, train_split, test_split, len(classes),
                                               classes)
    del model
    rec = {}
    interval = 5 if args.quick else 100
    for variant in args.rec_variants:
        iters = 10 if args.quick else int(args.rec_iters.get(variant, 0)) or None
        rcfg = stage_config(REC_CONFIGS[variant], osp.join(work, name, f'rec-{variant}'),
                            seed, args, iters, args.rec_options,
                            encoder_from=trained['checkpoint'])
        runner, progress = train(rcfg, f's{seed} rec-{variant} {name}', start, interval)
        metrics = evaluate(runner.model, rcfg.test_dataloader, rcfg.test_evaluator)
        rec[variant] = dict(acc=metrics['refcoco/Acc@0.5'], miou=metrics['refcoco/mIoU'],
                            curve=[(it, m.get('refcoco/Acc@0.5')) for it, m in progress.curve],
                            iters=runner.iter)
        print(f'[{time.time() - start:6.0f}s] s{seed} rec-{variant} {name}: Acc@0.5 '
              f'{metrics["refcoco/Acc@0.5"]:.1f}', flush=True)
    result['rec'] = rec
    result['measure_seconds'] = round(time.time() - t0, 1)
    return result


def pretrain_and_measure(name, seed, args, work, start, probe, threads) -> dict:
    """:func:`pretrain` then :func:`measure`, in one worker."""
    trained = pretrain(name, seed, args, work, start, threads)
    return measure(name, seed, args, work, start, probe, threads, trained)


def run_seed(seed: int, args, work: str, start: float, probe) -> dict:
    """The three models of one seed in ``args.jobs`` worker processes: the full recipe and
    SigLIP alone first; the SigLIP + LocCa branch as soon as the full recipe has written
    its checkpoint at the switch."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    t0 = time.time()
    cores = max(1, os.cpu_count() or 1)
    jobs = max(1, min(args.jobs, 2))
    threads = max(1, cores // jobs)
    common = (seed, args, work, start, probe, threads)
    if jobs == 1:
        outs = {n: pretrain_and_measure(n, *common) for n in ('siglip2', 'siglip',
                                                              'siglip_locca')}
    else:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context('spawn')) as pool:
            futures = {n: pool.submit(pretrain_and_measure, n, *common)
                       for n in ('siglip2', 'siglip')}
            switch = pretrain_config('siglip2', seed, args, work)[1]
            wait_for_file(switch_checkpoint(work, switch), futures['siglip2'])
            futures['siglip_locca'] = pool.submit(pretrain_and_measure, 'siglip_locca', *common)
            outs = {n: f.result() for n, f in futures.items()}
    return dict(seed=seed, models={n: outs[n] for n in MODELS},
                seconds=round(time.time() - t0, 1))


def wait_for_file(path: str, writer, poll: float = 1.0) -> None:
    """Return once ``path`` exists and its size held for one poll (written whole), or once
    the ``writer`` future is done (its error then surfaces from its result)."""
    size = -1
    while not writer.done():
        now = osp.getsize(path) if osp.exists(path) else -1
        if now >= 0 and now == size:
            return
        size = now
        time.sleep(poll)


def last_val(result: dict, key: str):
    """A model's metric at its last pretraining validation (None when it has none)."""
    values = [m[key] for _, m in result['val_curve'] if key in m]
    return values[-1] if values else None


def summarize(runs: list, args, seconds: float) -> dict:
    """``summary.json``: per measure and model, the mean ± std over seeds and per-seed values."""
    measures = {}

    def add(label, get):
        per_model = {}
        for n in MODELS:
            values = [get(r['models'][n]) for r in runs]
            if all(v is not None for v in values):
                per_model[n] = dict(spread(values), per_seed=[round(float(v), 2)
                                                              for v in values])
        measures[label] = per_model

    for v in args.rec_variants:
        add(f'REC Acc@0.5, {v} decoder', lambda m, v=v: m['rec'][v]['acc'])
    add('dense probe mIoU', lambda m: m['dense_probe']['miou'])
    add('position share of token variance %', lambda m: m['dense_probe']['position_share'])
    add('zero-shot accuracy (towers)', lambda m: last_val(m, 'zeroshot/accuracy'))
    add('10-shot linear probe', lambda m: last_val(m, 'fewshot/10shot'))
    add('own ARef Acc@0.5', lambda m: m.get('own_aref', {}).get('refcoco/Acc@0.5'))
    add('caption CIDEr', lambda m: m.get('captions', {}).get('caption/CIDEr'))
    return dict(recipe='siglip2', measures=measures, seeds=[r['seed'] for r in runs],
                seed_seconds=[r['seconds'] for r in runs],
                steps={'pretrain': runs[0]['models']['siglip']['pretrain_iters'],
                       'rec': {v: runs[0]['models']['siglip']['rec'][v]['iters']
                               for v in args.rec_variants}},
                seconds=round(seconds, 1))


def print_table(summary: dict) -> None:
    """The comparison: each measure's mean ± std per model."""
    n = len(summary['seeds'])
    print(f'\n{"":<38}' + ''.join(f'{LABELS[m]:>18}' for m in MODELS)
          + f'   (mean ± std over {n} seed{"s" * (n > 1)})')
    for label, per_model in summary['measures'].items():
        cells = ''.join(f'{per_model[m]["mean"]:9.1f} ± {per_model[m]["std"]:4.1f}'
                        if m in per_model else f'{"-":>18}' for m in MODELS)
        print(f'{label:<38}{cells}')
    times = ', '.join(f'{s / 60:.1f}' for s in summary['seed_seconds'])
    print(f'{summary["steps"]["pretrain"]} pretraining steps each; minutes per seed: {times}; '
          f'{summary["seconds"]:.0f} s in all\n')


def main(args) -> dict:
    """Run the comparison (``args`` from :func:`locca_mm.cli.demo.parse_args`)."""
    import torch

    from locca_mm.registry import MODELS as REGISTRY
    from locca_mm.utils import register_all_modules
    if args.preset != 'cpu':
        raise SystemExit('--recipe siglip2 has the cpu preset only (its configs are the tiny '
                         'shapes models); options: --pretrain-options / --rec-options')
    register_all_modules()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    start = time.time()
    work = osp.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    probe_model = REGISTRY.build(stage_config(CONFIGS['siglip2'], work, 0, args).model)
    n_probe = 40 if args.quick else args.probe_images
    probe = probe_data(probe_model, n_probe, max(n_probe // 3, 10),
                       PRESETS[args.preset]['img_size'] or 64)
    runs = []
    for i in range(args.seeds):
        seed = args.seed + i
        print(f'== seed {seed} ({i + 1}/{args.seeds}) ==', flush=True)
        seed_dir = osp.join(work, f'seed_{seed}')
        result = run_seed(seed, args, seed_dir, start, probe)
        with open(osp.join(seed_dir, 'results.json'), 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=1)
        runs.append(result)
    summary = summarize(runs, args, time.time() - start)
    with open(osp.join(work, 'summary.json'), 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=1)
    print_table(summary)
    print(f'summary: {osp.join(work, "summary.json")}')
    return summary
