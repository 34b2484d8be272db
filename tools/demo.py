"""The embedded demo: LocCa vs. Cap at equal budget, on SyntheticShapes, on a CPU.

    python tools/demo.py [--work-dir work_dirs/demo] [--quick]

1. Pretrain a tiny LocCa and a tiny Cap: the same encoder, decoder, data,
   steps and seed (configs/shapes/locca_tiny_shapes.py, cap_tiny_shapes.py).
2. Score both models' captions of held-out images (CIDEr, BLEU-4).
3. The RefCOCO protocol for each encoder: freeze it, train a fresh decoder on
   the synthetic referring split, measure Acc@0.5 on its test split
   (configs/shapes/rec_tiny_shapes.py).
4. Write ``summary.json``, ``curves.png`` (training losses and accuracies),
   ``vis/`` (both models' boxes on a few test images), and print a table.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs', 'shapes')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='LocCa vs Cap on SyntheticShapes (CPU)')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--pretrain-iters', type=int, default=None,
                        help='pretraining iterations of each model (config default)')
    parser.add_argument('--rec-iters', type=int, default=None,
                        help='decoder iterations of the REC protocol (config default)')
    parser.add_argument('--quick', action='store_true',
                        help='a few iterations and small evaluations (a smoke test)')
    parser.add_argument('--num-vis', type=int, default=8, help='test images to draw')
    return parser.parse_args(argv)


class Progress:
    """Prints a line per ``interval`` iterations and keeps every iteration's losses."""

    def __init__(self, stage: str, interval: int, start: float):
        from mmengine.hooks import Hook

        progress = self

        class _Hook(Hook):
            priority = 'LOW'

            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                progress.record(runner, outputs or {})

        self.hook = _Hook()
        self.stage, self.interval, self.start = stage, interval, start
        self.history = []
        self.t0 = None

    def record(self, runner, outputs: dict) -> None:
        if self.t0 is None:
            self.t0 = time.time()
        losses = {k: float(v.detach()) for k, v in outputs.items() if 'loss' in k}
        self.history.append(losses)
        it, total = runner.iter + 1, runner.max_iters
        if it % self.interval == 0 or it == total:
            rate = (time.time() - self.t0) / it
            text = '  '.join(f'{k} {v:.3f}' for k, v in losses.items())
            print(f'[{time.time() - self.start:6.0f}s] {self.stage:<14} {it:4d}/{total}  '
                  f'{text}  (eta {rate * (total - it):.0f}s)', flush=True)


def run(cfg, stage: str, start: float, interval: int):
    """Train ``cfg`` in this process; return the runner and the progress record."""
    from locca_mm.utils.cli import build_runner
    cfg.experiment_name = f'demo-{stage}-{os.getpid()}'
    cfg.visualizer.name = cfg.experiment_name
    cfg.log_level = 'WARNING'
    runner = build_runner(cfg)
    progress = Progress(stage, interval, start)
    runner.register_hook(progress.hook)
    runner.train()
    return runner, progress


def evaluate(runner, dataloader_cfg, evaluator_cfg, stage: str):
    """Test-loop metrics of the runner's model on another dataloader."""
    from mmengine.evaluator import Evaluator
    from mmengine.runner import Runner
    loader = Runner.build_dataloader(dataloader_cfg)
    evaluator = Evaluator(evaluator_cfg)
    evaluator.dataset_meta = getattr(loader.dataset, 'metainfo', None)
    model = runner.model
    model.eval()
    import torch
    with torch.no_grad():
        for batch in loader:
            evaluator.process(model.test_step(batch), batch)
    return evaluator.evaluate(len(loader.dataset))


def main(argv=None):
    args = parse_args(argv)
    import torch
    from mmengine.config import Config

    from locca_mm.utils import register_all_modules
    from locca_mm.utils.cli import apply_encoder_from, link_tokenizer
    register_all_modules()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    start = time.time()
    work = osp.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)

    def config(name, work_dir, iters, **overrides):
        cfg = Config.fromfile(osp.join(CONFIGS, f'{name}.py'))
        cfg.work_dir = work_dir
        if iters:
            cfg.train_cfg.max_iters = iters
            warmup = min(cfg.param_scheduler[0]['end'], max(iters // 2, 1))
            cfg.param_scheduler[0]['end'] = cfg.param_scheduler[1]['begin'] = warmup
        if args.quick:
            cfg.train_dataloader.batch_size = 8
            cfg.test_dataloader.dataset.num_samples = 16
            if cfg.get('val_dataloader'):
                cfg.val_dataloader.dataset.num_samples = 16
        for k, v in overrides.items():
            cfg[k] = v
        link_tokenizer(cfg)
        apply_encoder_from(cfg)
        return cfg

    pre_iters = args.pretrain_iters or (10 if args.quick else None)
    rec_iters = args.rec_iters or (10 if args.quick else None)
    interval = 5 if args.quick else 50
    results = {}
    for name, cfg_name in (('locca', 'locca_tiny_shapes'), ('cap', 'cap_tiny_shapes')):
        print(f'== pretraining {name} ==', flush=True)
        cfg = config(cfg_name, osp.join(work, name, 'pretrain'), pre_iters)
        runner, progress = run(cfg, f'pretrain-{name}', start, interval)
        ckpt = osp.join(cfg.work_dir, f'iter_{runner.iter}.pth')
        print(f'== captions of {name} ==', flush=True)
        captions = evaluate(runner, cfg.test_dataloader, cfg.test_evaluator, name)
        results[name] = dict(pretrain=progress.history, checkpoint=ckpt, captions=captions,
                             pretrain_iters=runner.iter)

    vis_data = []
    for name in ('locca', 'cap'):
        print(f'== REC protocol, frozen {name} encoder ==', flush=True)
        cfg = config('rec_tiny_shapes', osp.join(work, name, 'rec'), rec_iters,
                     encoder_from=results[name]['checkpoint'])
        runner, progress = run(cfg, f'rec-{name}', start, interval)
        rec = evaluate(runner, cfg.test_dataloader, cfg.test_evaluator, name)
        results[name].update(rec=progress.history, rec_metrics=rec, rec_iters=runner.iter)
        vis_data.append((name, runner.model, cfg))

    draw(vis_data, osp.join(work, 'vis'), args.num_vis)
    seconds = time.time() - start
    summary = summarize(results, seconds)
    with open(osp.join(work, 'summary.json'), 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=1)
    plot(results, osp.join(work, 'curves.png'))
    print_table(summary)
    print(f'summary: {osp.join(work, "summary.json")}; curves: {osp.join(work, "curves.png")}; '
          f'pictures: {osp.join(work, "vis")}')
    return summary


def summarize(results: dict, seconds: float) -> dict:
    def rec_acc(name):
        return round(results[name]['rec_metrics']['refcoco/Acc@0.5'], 2)

    return {
        'rec_acc@0.5': {n: rec_acc(n) for n in ('locca', 'cap')},
        'rec_miou': {n: round(results[n]['rec_metrics']['refcoco/mIoU'], 2)
                     for n in ('locca', 'cap')},
        'caption_cider': {n: round(results[n]['captions']['caption/CIDEr'], 2)
                          for n in ('locca', 'cap')},
        'caption_bleu4': {n: round(results[n]['captions']['caption/BLEU-4'], 2)
                          for n in ('locca', 'cap')},
        'margin_rec_acc@0.5': round(rec_acc('locca') - rec_acc('cap'), 2),
        'steps': {'pretrain': results['locca']['pretrain_iters'],
                  'rec': results['locca']['rec_iters']},
        'final_losses': {
            n: {k: round(v, 4) for k, v in results[n]['pretrain'][-1].items()}
            for n in ('locca', 'cap')
        },
        'seconds': round(seconds, 1),
    }


def print_table(summary: dict) -> None:
    rows = [('REC Acc@0.5 (frozen encoder)', 'rec_acc@0.5'), ('REC mean IoU', 'rec_miou'),
            ('caption CIDEr', 'caption_cider'), ('caption BLEU-4', 'caption_bleu4')]
    print(f'\n{"":<30}{"LocCa":>10}{"Cap":>10}')
    for label, key in rows:
        print(f'{label:<30}{summary[key]["locca"]:>10.2f}{summary[key]["cap"]:>10.2f}')
    print(f'{"margin (Acc@0.5 points)":<30}{summary["margin_rec_acc@0.5"]:>10.2f}')
    print(f'{summary["steps"]["pretrain"]} pretraining + {summary["steps"]["rec"]} REC steps '
          f'each, {summary["seconds"]:.0f} s in all\n')


def _smooth(values, k=20):
    import numpy as np
    values = np.asarray(values, dtype=float)
    if len(values) < k:
        return values
    return np.convolve(values, np.ones(k) / k, mode='valid')


def plot(results: dict, path: str) -> None:
    """Pretraining and REC losses of both models, and their REC accuracies."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    colours = {'locca': 'tab:red', 'cap': 'tab:blue'}
    for name in ('locca', 'cap'):
        history = results[name]['pretrain']
        for key, style in (('loss_cap', '-'), ('loss_aref', '--'), ('loss_gcap', ':')):
            values = [h[key] for h in history if key in h]
            if values:
                axes[0].plot(_smooth(values), style, color=colours[name], label=f'{name} {key}')
        rec = [h['loss_aref'] for h in results[name]['rec'] if 'loss_aref' in h]
        axes[1].plot(_smooth(rec), color=colours[name], label=f'{name} encoder')
    axes[0].set(title='pretraining losses', xlabel='iteration', ylabel='loss')
    axes[1].set(title='REC protocol: fresh decoder, ARef loss', xlabel='iteration')
    accs = [results[n]['rec_metrics']['refcoco/Acc@0.5'] for n in ('locca', 'cap')]
    axes[2].bar(['LocCa', 'Cap'], accs, color=[colours['locca'], colours['cap']])
    for i, a in enumerate(accs):
        axes[2].text(i, a, f'{a:.1f}', ha='center', va='bottom')
    axes[2].set(title='REC Acc@0.5 (frozen encoder)', ylabel='%', ylim=(0, 100))
    for ax in axes[:2]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw(models, out_dir: str, num: int) -> None:
    """Each model's box for the same test expressions, side by side, 4x enlarged."""
    import cv2
    import numpy as np
    import torch
    from mmengine.runner import Runner

    from locca_mm.visualization import LocCaVisualizer
    os.makedirs(out_dir, exist_ok=True)
    visualizer = LocCaVisualizer(name=f'demo-vis-{os.getpid()}')
    _, _, cfg = models[0]
    loader = Runner.build_dataloader(dict(cfg.test_dataloader, batch_size=num))
    batch = next(iter(loader))
    panels = []
    for name, model, _ in models:
        model.eval()
        with torch.no_grad():
            preds = model.test_step(batch)
        panels.append((name, preds))
    for i in range(len(batch['inputs'])):
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
