"""The embedded demo: LocCa vs. Cap at equal budget, on SyntheticShapes, on a CPU, over seeds.

    python tools/demo.py [--work-dir work_dirs/demo] [--seeds 1] [--seed 0] [--quick]
                         [--captions alt|descriptive] [--rec-variants plain aided]
    python tools/demo.py --recipe siglip2 [--seeds 3]   # SigLIP vs SigLIP + LocCa vs SigLIP 2

For each seed (pretraining and REC both reseeded; the test sets stay fixed):

1. Pretrain a tiny LocCa and a tiny Cap: the same encoder, decoder, data, steps
   and seed (configs/locca/locca_vit-tiny_1xb48-900it_shapes.py,
   configs/cap/cap_vit-tiny_1xb48-900it_shapes.py).
2. Score both models' captions of held-out images (CIDEr, BLEU-4), and LocCa's
   own ARef (its pretrained decoder asked for the box) on the referring test split.
3. A linear dense probe of each frozen encoder: every patch token classified as
   background or the colour × kind of the object covering it (mIoU).
4. The RefCOCO protocol for each encoder: freeze it, train a fresh decoder on the
   synthetic referring split, measure Acc@0.5 on its test split, with the
   learning curve on the validation split. ``plain`` is the pretraining decoder's
   architecture (configs/shapes/rec_tiny_shapes.py); ``aided`` adds 2-D positions
   to its cross-attention keys, location the encoder need not provide
   (configs/shapes/rec-aided_tiny_shapes.py), and is reported as such.

It writes per-seed ``seed_<s>/results.json``, ``summary.json`` (means, spreads,
per-seed figures, the LocCa − Cap margin), ``curves.png`` and ``vis/``, and
prints a table. The stages' configs and options are :mod:`locca_mm.cli.demo`'s; the summary,
the table and the pictures :mod:`locca_mm.cli.demo_report`'s.
"""
import json
import os
import os.path as osp
import time

from locca_mm.cli.demo import (
    MODELS,
    PRESETS,
    PRETRAIN_CONFIGS,
    PRETRAIN_VAL,
    REC_CONFIGS,
    parse_args,
    probe_data,
    stage_config,
)
from locca_mm.cli.demo_report import draw, plot, print_table, summarize
from locca_mm.cli.runs import evaluate, train


# ------------------------------------------------------------------------------ one seed
def run_model(name: str, seed: int, args, work: str, start: float, probe,
              threads: int) -> dict:
    """One model of one seed, in this process with ``threads`` threads: pretrain it, score its
    captions (and, for LocCa, its own ARef), probe its frozen encoder, and run each REC
    variant on it. Returns ``result`` (per-model figures), ``rec`` (per variant) and ``vis``
    (per variant, the predictions on the first ``args.num_vis`` test expressions)."""
    import torch

    from locca_mm.evaluation import linear_dense_probe
    from locca_mm.utils import register_all_modules
    register_all_modules()
    torch.set_num_threads(threads)
    interval = 5 if args.quick else 100
    cfg = stage_config(PRETRAIN_CONFIGS[name], osp.join(work, name, 'pretrain'), seed, args,
                       10 if args.quick else args.pretrain_iters, args.pretrain_options)
    runner, progress = train(cfg, f's{seed} pretrain {name}', start, interval)
    encoder = osp.join(cfg.work_dir, f'iter_{runner.iter}.pth')
    result = dict(pretrain_iters=runner.iter, final_losses=progress.history[-1],
                  val_curve=[(it, {k: m[k] for k in PRETRAIN_VAL if k in m})
                             for it, m in progress.curve])
    result['captions'] = evaluate(runner.model, cfg.test_dataloader, cfg.test_evaluator)
    if name == 'locca':  # its own decoder, asked for the box of each expression
        ref = stage_config(REC_CONFIGS['plain'], work, seed, args)
        result['own_aref'] = evaluate(runner.model, ref.test_dataloader, ref.test_evaluator)
    (train_split, test_split), classes = probe
    result['dense_probe'] = linear_dense_probe(runner.model, train_split, test_split,
                                               len(classes), classes)
    print(f'[{time.time() - start:6.0f}s] s{seed} {name}: CIDEr '
          f'{result["captions"]["caption/CIDEr"]:.1f}, dense probe mIoU '
          f'{result["dense_probe"]["miou"]:.1f}, position share of token variance '
          f'{result["dense_probe"]["position_share"]:.1f}%'
          + (f', own ARef {result["own_aref"]["refcoco/Acc@0.5"]:.1f}'
             if 'own_aref' in result else ''), flush=True)
    del runner
    rec, vis = {}, {}
    for variant in args.rec_variants:
        iters = 10 if args.quick else int(args.rec_iters.get(variant, 0)) or None
        cfg = stage_config(REC_CONFIGS[variant], osp.join(work, name, f'rec-{variant}'),
                           seed, args, iters, args.rec_options, encoder_from=encoder)
        runner, progress = train(cfg, f's{seed} rec-{variant} {name}', start, interval)
        metrics = evaluate(runner.model, cfg.test_dataloader, cfg.test_evaluator)
        curve = [(it, m.get('refcoco/Acc@0.5')) for it, m in progress.curve]
        rec[variant] = dict(acc=metrics['refcoco/Acc@0.5'], miou=metrics['refcoco/mIoU'],
                            curve=curve, loss=[h.get('loss_aref') for h in progress.history],
                            iters=runner.iter)
        print(f'[{time.time() - start:6.0f}s] s{seed} rec-{variant} {name}: Acc@0.5 '
              f'{metrics["refcoco/Acc@0.5"]:.1f} (val curve '
              f'{", ".join(f"{a:.0f}" for _, a in curve if a is not None)})', flush=True)
        if args.num_vis > 0:
            vis[variant] = predict_first(runner.model, cfg, args.num_vis)
    return dict(result=result, rec=rec, vis=vis)


def predict_first(model, cfg, num: int) -> list:
    """``model``'s predictions (CPU) on the first ``num`` samples of ``cfg``'s test split."""
    import torch
    from mmengine.runner import Runner
    batch = next(iter(Runner.build_dataloader(dict(cfg.test_dataloader, batch_size=num))))
    model.eval()
    with torch.no_grad():
        return [p.cpu() for p in model.test_step(batch)]


def run_seed(seed: int, args, work: str, start: float, probe) -> tuple:
    """Both models of one seed, side by side in ``args.jobs`` processes (each with its
    share of the cores: tiny models use one core better than two). Returns the seed's
    results and the REC pictures' panels [(name, predictions)]."""
    cores = max(1, os.cpu_count() or 1)
    jobs = max(1, min(args.jobs, len(MODELS)))
    work_args = [(n, seed, args, work, start, probe, max(1, cores // jobs)) for n in MODELS]
    if jobs == 1:
        outs = [run_model(*a) for a in work_args]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context('spawn')) as pool:
            outs = [f.result() for f in [pool.submit(run_model, *a) for a in work_args]]
    outs = dict(zip(MODELS, outs))
    out = dict(seed=seed, models={n: o['result'] for n, o in outs.items()},
               rec={v: {n: outs[n]['rec'][v] for n in MODELS} for v in args.rec_variants})
    panels = [(f'{n} ({v})', outs[n]['vis'][v]) for v in args.rec_variants for n in MODELS
              if v in outs[n]['vis']]
    return out, panels


def main(argv=None):
    args = parse_args(argv)
    if args.recipe == 'siglip2':  # SigLIP vs SigLIP + LocCa vs SigLIP 2 (its own module)
        from locca_mm.cli import demo_siglip2
        return demo_siglip2.main(args)
    import torch

    from locca_mm.datasets import SyntheticShapes
    from locca_mm.utils import register_all_modules
    register_all_modules()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    start = time.time()
    work = osp.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    share = SyntheticShapes(num_samples=2000, caption_style=args.captions,
                            seed=args.seed).location_word_share(200 if args.quick else 2000)
    print(f'captions ({args.captions}): {share * 100:.1f}% name a location', flush=True)
    from locca_mm.registry import MODELS as REGISTRY
    probe_model = REGISTRY.build(stage_config(PRETRAIN_CONFIGS['locca'], work, 0, args).model)
    n_probe = 40 if args.quick else args.probe_images
    probe = probe_data(probe_model, n_probe, max(n_probe // 3, 10),
                       PRESETS[args.preset]['img_size'] or 64)
    runs, vis = [], None
    for i in range(args.seeds):
        seed = args.seed + i
        print(f'== seed {seed} ({i + 1}/{args.seeds}) ==', flush=True)
        seed_dir = osp.join(work, f'seed_{seed}')
        result, models = run_seed(seed, args, seed_dir, start, probe)
        with open(osp.join(seed_dir, 'results.json'), 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=1)
        runs.append(result)
        vis = vis or models
    summary = summarize(runs, args, time.time() - start, share)
    with open(osp.join(work, 'summary.json'), 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=1)
    plot(runs, summary, osp.join(work, 'curves.png'))
    if vis:
        draw(vis, stage_config(REC_CONFIGS['plain'], work, args.seed, args),
             osp.join(work, 'vis'))
    print_table(summary)
    print(f'summary: {osp.join(work, "summary.json")}; curves: {osp.join(work, "curves.png")}; '
          f'pictures: {osp.join(work, "vis")}')
    return summary


if __name__ == '__main__':
    main()
