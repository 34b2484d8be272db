"""The embedded demo: LocCa vs. Cap at equal budget, on SyntheticShapes, on a CPU, over seeds.

    python tools/demo.py [--work-dir work_dirs/demo] [--seeds 1] [--seed 0] [--quick]
                         [--captions alt|descriptive] [--rec-variants plain aided]

For each seed (pretraining and REC both reseeded; the test sets stay fixed):

1. Pretrain a tiny LocCa and a tiny Cap: the same encoder, decoder, data, steps
   and seed (configs/locca/locca_vit-tiny_1xb48-800it_shapes.py,
   configs/cap/cap_vit-tiny_1xb48-800it_shapes.py).
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
prints a table.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs')
MODELS = ('locca', 'cap')
PRETRAIN_CONFIGS = dict(locca='locca/locca_vit-tiny_1xb48-800it_shapes',
                        cap='cap/cap_vit-tiny_1xb48-800it_shapes')
REC_CONFIGS = dict(plain='shapes/rec_tiny_shapes', aided='shapes/rec-aided_tiny_shapes')
# What pretraining validates (configs/_base_/datasets/shapes_pretrain.py): the model's own
# ARef on held-out expressions (LocCa only) and caption CIDEr.
PRETRAIN_VAL = ('aref/Acc@0.5', 'caption/CIDEr')
PROBE_SEED = 7_000  # the probe's images: a pretraining stream no run trains on
#: The demo's scales. ``cpu`` (default) runs the configs as they are (their steps too): a
#: 2-core CPU, minutes.
#: ``gpu`` is the same comparison for one GPU: larger images (96 px, a 12 x 12 token grid) and
#: models (a 6-layer width-192 encoder, a 3-layer decoder), batch 256, more steps, bfloat16
#: autocast, 8 data workers. ``options`` apply to every stage, ``pretrain_options`` /
#: ``rec_options`` to one kind; ``img_size`` to every SyntheticShapes dataset (and the probe).
PRESETS = {
    'cpu': dict(pretrain_iters=None, rec_iters={}, probe_images=600,
                img_size=None, options={}, pretrain_options={}, rec_options={}),
    'gpu': dict(
        pretrain_iters=3000, rec_iters=dict(plain=2000, aided=2000), probe_images=2000,
        img_size=96,
        options={
            'model.backbone.img_size': 96,
            'model.backbone.arch': dict(embed_dims=192, num_layers=6, num_heads=3,
                                        feedforward_channels=768),
            'model.head.decoder.embed_dims': 192,
            'model.head.decoder.num_heads': 3,
            'model.head.decoder.num_layers': 3,
            'train_dataloader.batch_size': 256,
            'train_dataloader.num_workers': 8,
            'train_dataloader.persistent_workers': True,
            'optim_wrapper.type': 'AutocastOptimWrapper',
            'optim_wrapper.dtype': 'bfloat16',
        },
        pretrain_options={},
        rec_options={'model.backbone.frozen_stages': 6}),  # the whole 6-block encoder
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='LocCa vs Cap on SyntheticShapes (CPU)')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--seeds', type=int, default=1, help='independent runs')
    parser.add_argument('--seed', type=int, default=0, help='the first run\'s seed')
    parser.add_argument('--captions', choices=['alt', 'descriptive'], default='alt',
                        help='SyntheticShapes caption style of pretraining')
    parser.add_argument('--rec-variants', nargs='+', choices=list(REC_CONFIGS),
                        default=['plain', 'aided'], help='REC protocol decoders to run')
    parser.add_argument('--preset', choices=list(PRESETS), default='cpu',
                        help='the scale: cpu (the configs as they are) or gpu (larger '
                        'images, models and batches, more steps, bf16; see PRESETS)')
    parser.add_argument('--pretrain-iters', type=int, default=None,
                        help='pretraining iterations of each model (default: the preset\'s, '
                        'for cpu the config\'s)')
    parser.add_argument('--rec-iters', nargs='+', action=DictAction, default=None,
                        help='REC decoder iterations per variant, e.g. plain=300 aided=1500 '
                        '(default: the preset\'s)')
    parser.add_argument('--probe-images', type=int, default=None,
                        help='images the dense probe trains on (and a third of it to test; '
                        'default: the preset\'s)')
    parser.add_argument('--pretrain-options', nargs='+', action=DictAction, default={},
                        help='config overrides for both pretrainings')
    parser.add_argument('--rec-options', nargs='+', action=DictAction, default={},
                        help='config overrides for every REC protocol run')
    parser.add_argument('--quick', action='store_true',
                        help='a few iterations and small evaluations (a smoke test)')
    parser.add_argument('--num-vis', type=int, default=8, help='test images to draw (0: none)')
    parser.add_argument('--jobs', type=int, default=2,
                        help='processes per seed: 2 trains LocCa and Cap side by side, each '
                        'with half of the cores; 1 one after the other')
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    for key in ('pretrain_iters', 'rec_iters', 'probe_images'):
        if getattr(args, key) is None:
            setattr(args, key, preset[key])
    return args


# ------------------------------------------------------------------------------ running
class Progress:
    """Prints a line per ``interval`` iterations; keeps every iteration's losses and the
    validation metrics (the REC learning curve)."""

    def __init__(self, stage: str, interval: int, start: float):
        from mmengine.hooks import Hook

        progress = self

        class _Hook(Hook):
            priority = 'LOW'

            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                progress.record(runner, outputs or {})

            def after_val_epoch(self, runner, metrics=None):
                progress.curve.append((runner.iter, dict(metrics or {})))

        self.hook = _Hook()
        self.stage, self.interval, self.start = stage, interval, start
        self.history, self.curve = [], []
        self.t0 = None

    def record(self, runner, outputs: dict) -> None:
        if self.t0 is None:
            self.t0 = time.time()
        losses = {k: float(v.detach()) for k, v in outputs.items() if 'loss' in k}
        self.history.append(losses)
        it, total = runner.iter + 1, runner.max_iters
        if it % self.interval == 0 or it == total:
            rate = (time.time() - self.t0) / it
            text = '  '.join(f'{k} {v:.3f}' for k, v in losses.items() if k != 'loss')
            print(f'[{time.time() - self.start:6.0f}s] {self.stage:<20} {it:4d}/{total}  '
                  f'{text}  (eta {rate * (total - it):.0f}s)', flush=True)


def train(cfg, stage: str, start: float, interval: int):
    """Train ``cfg`` in this process; return the runner and its progress record."""
    from locca_mm.cli import build_runner
    cfg.experiment_name = f'demo-{stage}-{os.getpid()}'
    cfg.visualizer.name = cfg.experiment_name
    cfg.log_level = 'WARNING'
    runner = build_runner(cfg)
    progress = Progress(stage, interval, start)
    runner.register_hook(progress.hook)
    runner.train()
    return runner, progress


def evaluate(model, dataloader_cfg, evaluator_cfg) -> dict:
    """Metrics of ``model`` on a dataloader config (test-loop style, no runner)."""
    import torch
    from mmengine.evaluator import Evaluator
    from mmengine.runner import Runner
    loader = Runner.build_dataloader(dataloader_cfg)
    evaluator = Evaluator(evaluator_cfg)
    evaluator.dataset_meta = getattr(loader.dataset, 'metainfo', None)
    model.eval()
    with torch.no_grad():
        for batch in loader:
            evaluator.process(model.test_step(batch), batch)
    return evaluator.evaluate(len(loader.dataset))


# ------------------------------------------------------------------------------ configs
def stage_config(name: str, work_dir: str, seed: int, args, iters=None, options=None,
                 **overrides):
    """``configs/<name>.py`` for one seed: training randomness and training data
    reseeded, test sets fixed; ``iters`` shortens it (warm-up scaled)."""
    from mmengine.config import Config

    from locca_mm.cli import apply_encoder_from, leaf_datasets
    cfg = Config.fromfile(osp.join(CONFIGS, f'{name}.py'))
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    rec = name in REC_CONFIGS.values()
    preset = PRESETS[args.preset]
    for d in leaf_datasets(cfg.train_dataloader.dataset):
        d.seed = seed
    if preset['img_size']:
        for phase in ('train', 'val', 'test'):
            for d in leaf_datasets((cfg.get(f'{phase}_dataloader') or {}).get('dataset')):
                d.img_size = preset['img_size']
    cfg.merge_from_dict(dict(preset['options'],
                             **preset['rec_options' if rec else 'pretrain_options']))
    if cfg.train_dataloader.dataset.get('split') == 'pretrain':
        cfg.train_dataloader.dataset.caption_style = args.captions
    if iters:
        cfg.train_cfg.max_iters = iters
        warmup = min(cfg.param_scheduler[0]['end'], max(iters // 2, 1))
        cfg.param_scheduler[0]['end'] = cfg.param_scheduler[1]['begin'] = warmup
    val_sets = list(leaf_datasets((cfg.get('val_dataloader') or {}).get('dataset')))
    if rec:  # the REC learning curve: 5 points on 100 expressions of the val split
        cfg.train_cfg.val_interval = max(cfg.train_cfg.max_iters // 5, 1)
        val_sets[0].num_samples = 100
    # (pretraining validates as its config says: own ARef and CIDEr every 200 steps)
    if args.quick:
        cfg.train_dataloader.update(batch_size=8, num_workers=0, persistent_workers=False)
        cfg.test_dataloader.dataset.num_samples = 16
        for d in val_sets:
            d.num_samples = min(d.num_samples, 16)
        if iters and not rec:
            cfg.train_cfg.val_interval = max(iters // 2, 1)
    cfg.merge_from_dict(dict(options or {}))
    for k, v in overrides.items():
        cfg[k] = v
    apply_encoder_from(cfg)
    return cfg



# ------------------------------------------------------------------------------ probe
def probe_data(model, num_train: int, num_test: int, img_size: int = 64):
    """(images, patch labels) of two disjoint SyntheticShapes image sets for the probe,
    preprocessed by ``model``'s data preprocessor."""
    import torch

    from locca_mm.datasets import SyntheticShapes
    from locca_mm.evaluation import patch_labels
    ds = SyntheticShapes(num_samples=num_train + num_test, seed=PROBE_SEED, img_size=img_size)
    patch = model.backbone.patch_size[0] if isinstance(model.backbone.patch_size, tuple) \
        else model.backbone.patch_size
    num_classes = len(ds.dense_classes())
    images, labels = [], []
    for i in range(num_train + num_test):
        shapes, _ = ds.scene(i)
        images.append(torch.from_numpy(ds.render(shapes, i)).permute(2, 0, 1).contiguous())
        labels.append(torch.from_numpy(patch_labels(ds.label_map(shapes), patch, num_classes)))
    inputs = model.data_preprocessor(dict(inputs=images, data_samples=None), False)['inputs']
    labels = torch.stack(labels)
    split = (inputs[:num_train], labels[:num_train]), (inputs[num_train:], labels[num_train:])
    return split, ds.dense_classes()


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


# ------------------------------------------------------------------------------ summary
def spread(values) -> dict:
    values = [float(v) for v in values]
    return dict(mean=round(statistics.fmean(values), 2),
                std=round(statistics.stdev(values), 2) if len(values) > 1 else 0.0,
                min=round(min(values), 2), max=round(max(values), 2))


def curve_mean(curve) -> float:
    """Mean of a learning curve's validation accuracies (its normalised area)."""
    values = [a for _, a in curve if a is not None]
    return statistics.fmean(values) if values else 0.0


def pretrain_val(runs: list) -> dict:
    """Validation while pretraining, per model: the steps and each metric's mean over seeds."""
    out = {}
    for n in MODELS:
        curves = [r['models'][n]['val_curve'] for r in runs]
        steps = [it for it, _ in curves[0]]
        out[n] = dict(steps=steps)
        for key in PRETRAIN_VAL:
            if all(key in m for c in curves for _, m in c):
                out[n][key] = [round(statistics.fmean(c[i][1][key] for c in curves), 2)
                               for i in range(len(steps))]
    return out


def summarize(runs: list, args, seconds: float, location_share: float) -> dict:
    variants = list(runs[0]['rec'])
    rec = {}
    for v in variants:
        acc = {n: [r['rec'][v][n]['acc'] for r in runs] for n in MODELS}
        # How soon the decoder reads location: the mean of its validation curve (the
        # normalised area under it), and its margin.
        auc = {n: [curve_mean(r['rec'][v][n]['curve']) for r in runs] for n in MODELS}
        rec[v] = dict(acc={n: spread(a) for n, a in acc.items()},
                      miou={n: spread([r['rec'][v][n]['miou'] for r in runs]) for n in MODELS},
                      margin=spread([a - b for a, b in zip(acc['locca'], acc['cap'])]),
                      curve_mean={n: spread(a) for n, a in auc.items()},
                      curve_mean_margin=spread([a - b for a, b in zip(auc['locca'],
                                                                      auc['cap'])]))
    # The plain decoder (the paper's protocol) is the headline where it ran; the aided
    # one, which hands the decoder positions on its keys, stands beside it.
    headline = 'plain' if 'plain' in rec else variants[0]
    probe = {n: [r['models'][n]['dense_probe']['miou'] for r in runs] for n in MODELS}
    return {
        'rec_acc@0.5': {n: rec[headline]['acc'][n]['mean'] for n in MODELS},
        'margin': rec[headline]['margin'],
        'headline_variant': headline,
        'rec_variants': rec,
        'dense_probe_miou': {n: spread(v) for n, v in probe.items()},
        'dense_probe_margin': spread([a - b for a, b in zip(probe['locca'], probe['cap'])]),
        'position_share': {n: spread([r['models'][n]['dense_probe']['position_share']
                                      for r in runs]) for n in MODELS},
        'locca_own_aref_acc@0.5': spread([r['models']['locca']['own_aref']['refcoco/Acc@0.5']
                                          for r in runs]),
        'caption_cider': {n: spread([r['models'][n]['captions']['caption/CIDEr']
                                     for r in runs]) for n in MODELS},
        'caption_bleu4': {n: spread([r['models'][n]['captions']['caption/BLEU-4']
                                     for r in runs]) for n in MODELS},
        'captions': dict(style=args.captions, location_word_share=round(location_share, 4)),
        'per_seed': [dict(
            seed=r['seed'],
            rec={v: {n: round(r['rec'][v][n]['acc'], 2) for n in MODELS} for v in variants},
            dense_probe_miou={n: round(r['models'][n]['dense_probe']['miou'], 2)
                              for n in MODELS},
            position_share={n: round(r['models'][n]['dense_probe']['position_share'], 2)
                            for n in MODELS},
            locca_own_aref=round(r['models']['locca']['own_aref']['refcoco/Acc@0.5'], 2),
            cider={n: round(r['models'][n]['captions']['caption/CIDEr'], 2) for n in MODELS})
            for r in runs],
        'pretrain_val': pretrain_val(runs),
        'steps': {'pretrain': runs[0]['models']['locca']['pretrain_iters'],
                  'rec': {v: runs[0]['rec'][v]['locca']['iters'] for v in variants}},
        'seeds': [r['seed'] for r in runs],
        'preset': args.preset,
        'seconds': round(seconds, 1),
    }


def print_table(summary: dict) -> None:
    def cell(s):
        return f'{s["mean"]:6.1f} ± {s["std"]:4.1f}'

    n = len(summary['seeds'])
    print(f'\nheadline: the {summary["headline_variant"]} REC decoder')
    print(f'{"":<36}{"LocCa":>15}{"Cap":>15}   (mean ± std over {n} seed{"s" * (n > 1)})')
    for v, r in summary['rec_variants'].items():
        label = f'REC Acc@0.5, {v} decoder'
        print(f'{label:<36}{cell(r["acc"]["locca"]):>15}{cell(r["acc"]["cap"]):>15}'
              f'   margin {cell(r["margin"])} (min {r["margin"]["min"]:.1f})')
        label = '  its learning curve, mean'
        print(f'{label:<36}{cell(r["curve_mean"]["locca"]):>15}'
              f'{cell(r["curve_mean"]["cap"]):>15}   margin {cell(r["curve_mean_margin"])} '
              f'(min {r["curve_mean_margin"]["min"]:.1f})')
    probe = summary['dense_probe_miou']
    print(f'{"dense probe mIoU (linear, frozen)":<36}{cell(probe["locca"]):>15}'
          f'{cell(probe["cap"]):>15}   margin {cell(summary["dense_probe_margin"])}')
    share = summary['position_share']
    print(f'{"position share of token variance %":<36}{cell(share["locca"]):>15}'
          f'{cell(share["cap"]):>15}')
    print(f'{"LocCa own ARef Acc@0.5":<36}{cell(summary["locca_own_aref_acc@0.5"]):>15}')
    cider = summary['caption_cider']
    print(f'{"caption CIDEr":<36}{cell(cider["locca"]):>15}{cell(cider["cap"]):>15}')
    print(f'captions: {summary["captions"]["style"]}, '
          f'{summary["captions"]["location_word_share"] * 100:.1f}% with a location word; '
          f'{summary["steps"]["pretrain"]} pretraining steps, REC '
          f'{", ".join(f"{v} {n}" for v, n in summary["steps"]["rec"].items())} steps; '
          f'{summary["seconds"]:.0f} s in all\n')


def main(argv=None):
    args = parse_args(argv)
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


# ------------------------------------------------------------------------------ pictures
def plot(runs: list, summary: dict, path: str) -> None:
    """REC learning curves (every seed), REC accuracy and dense-probe mIoU with spreads."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    colours = {'locca': 'tab:red', 'cap': 'tab:blue'}
    styles = {'plain': '-', 'aided': '--'}
    fig, axes = plt.subplots(1, 4, figsize=(21, 4.2))
    for r in runs:
        for v, by_model in r['rec'].items():
            for n, res in by_model.items():
                pts = [(it, a) for it, a in res['curve'] if a is not None]
                if pts:
                    axes[0].plot(*zip(*pts), styles.get(v, ':'), color=colours[n], alpha=0.7,
                                 marker='o', ms=3,
                                 label=f'{n}, {v}' if r is runs[0] else None)
    axes[0].set(title='REC protocol: val Acc@0.5 while the fresh decoder trains',
                xlabel='REC iteration', ylabel='Acc@0.5 (%)', ylim=(0, 100))
    axes[0].legend(fontsize=7)
    labels, values, errors, cols = [], [], [], []
    for v, rec in summary['rec_variants'].items():
        for n in MODELS:
            labels.append(f'{n}\n{v}')
            values.append(rec['acc'][n]['mean'])
            errors.append(rec['acc'][n]['std'])
            cols.append(colours[n])
    axes[1].bar(labels, values, yerr=errors, color=cols, capsize=4)
    axes[1].set(title='REC Acc@0.5 on ref_test (mean ± std over seeds)', ylim=(0, 100))
    probe = summary['dense_probe_miou']
    axes[2].bar(['LocCa', 'Cap'], [probe[n]['mean'] for n in MODELS],
                yerr=[probe[n]['std'] for n in MODELS], color=[colours[n] for n in MODELS],
                capsize=4)
    axes[2].set(title='linear dense probe mIoU (frozen encoder)', ylim=(0, 100))
    for r in runs:  # validation while pretraining: LocCa's own ARef, both models' CIDEr
        for n in MODELS:
            curve = r['models'][n]['val_curve']
            for key, style, scale in (('aref/Acc@0.5', '-', 1.0), ('caption/CIDEr', ':', 0.25)):
                pts = [(it, m[key] * scale) for it, m in curve if key in m]
                if pts:
                    axes[3].plot(*zip(*pts), style, color=colours[n], marker='o', ms=3,
                                 label=f'{n}, {key}{" / 4" if scale != 1 else ""}'
                                 if r is runs[0] else None)
    axes[3].set(title='pretraining validation (held-out expressions and captions)',
                xlabel='pretraining iteration', ylabel='own ARef Acc@0.5 (%), CIDEr / 4',
                ylim=(0, 100))
    axes[3].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw(panels, cfg, out_dir: str) -> None:
    """Each REC model's box for the same test expressions (``panels``: [(name, predictions
    on the first test samples of ``cfg``)]), side by side, 4x enlarged."""
    import cv2
    import numpy as np
    from mmengine.runner import Runner

    from locca_mm.visualization import LocCaVisualizer
    os.makedirs(out_dir, exist_ok=True)
    visualizer = LocCaVisualizer(name=f'demo-vis-{os.getpid()}')
    num = len(panels[0][1])
    batch = next(iter(Runner.build_dataloader(dict(cfg.test_dataloader, batch_size=num))))
    for i in range(num):
        image = batch['inputs'][i].permute(1, 2, 0).numpy()[..., ::-1]  # BGR -> RGB
        image = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
        tiles = []
        for name, preds in panels:
            pred = preds[i].clone()
            pred.pred_instances.bboxes = pred.pred_instances.bboxes * 4
            pred.gt_ref_bbox = pred.gt_ref_bbox * 4
            pred.task = f'ref ({name} encoder)'
            tiles.append(visualizer.draw_sample(image.copy(), pred, gt_frame='original'))
        height = max(t.shape[0] for t in tiles)
        tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 8), (0, 0)), constant_values=255)
                 for t in tiles]
        cv2.imwrite(osp.join(out_dir, f'{i:02d}.png'), np.concatenate(tiles, 1)[..., ::-1])

if __name__ == '__main__':
    main()
