"""What the embedded demo (``tools/demo.py``) reports once its seeds have run:

- :func:`summarize`: ``summary.json`` (means, spreads and per-seed figures of every measure,
  the LocCa - Cap margins, validation while pretraining, steps, seeds, time);
- :func:`print_table`: the table it prints;
- :func:`plot`: ``curves.png`` (REC learning curves, REC accuracy and dense-probe mIoU with
  their spreads, pretraining validation);
- :func:`draw`: ``vis/``, each REC model's box for the same test expressions.
"""
import os
import os.path as osp
import statistics

from .demo import MODELS, PRETRAIN_VAL

__all__ = ['spread', 'curve_mean', 'pretrain_val', 'summarize', 'print_table', 'plot', 'draw']


# ------------------------------------------------------------------------------ summary
def spread(values) -> dict:
    """Mean, sample standard deviation (0 for one value), min and max, to 2 places."""
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


def rec_variant_summary(runs: list, v: str) -> dict:
    """One REC variant over the seeds: accuracy, mIoU, margin and learning-curve means."""
    acc = {n: [r['rec'][v][n]['acc'] for r in runs] for n in MODELS}
    # How soon the decoder reads location: the mean of its validation curve (the
    # normalised area under it), and its margin.
    auc = {n: [curve_mean(r['rec'][v][n]['curve']) for r in runs] for n in MODELS}
    return dict(acc={n: spread(a) for n, a in acc.items()},
                miou={n: spread([r['rec'][v][n]['miou'] for r in runs]) for n in MODELS},
                margin=spread([a - b for a, b in zip(acc['locca'], acc['cap'])]),
                curve_mean={n: spread(a) for n, a in auc.items()},
                curve_mean_margin=spread([a - b for a, b in zip(auc['locca'], auc['cap'])]))


def per_seed_summary(r: dict, variants: list) -> dict:
    """One seed's headline figures, rounded."""
    return dict(
        seed=r['seed'],
        rec={v: {n: round(r['rec'][v][n]['acc'], 2) for n in MODELS} for v in variants},
        dense_probe_miou={n: round(r['models'][n]['dense_probe']['miou'], 2) for n in MODELS},
        position_share={n: round(r['models'][n]['dense_probe']['position_share'], 2)
                        for n in MODELS},
        locca_own_aref=round(r['models']['locca']['own_aref']['refcoco/Acc@0.5'], 2),
        cider={n: round(r['models'][n]['captions']['caption/CIDEr'], 2) for n in MODELS})


def summarize(runs: list, args, seconds: float, location_share: float) -> dict:
    """``summary.json``: every seed's results (``runs``) summed up."""
    variants = list(runs[0]['rec'])
    rec = {v: rec_variant_summary(runs, v) for v in variants}
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
        'per_seed': [per_seed_summary(r, variants) for r in runs],
        'pretrain_val': pretrain_val(runs),
        'steps': {'pretrain': runs[0]['models']['locca']['pretrain_iters'],
                  'rec': {v: runs[0]['rec'][v]['locca']['iters'] for v in variants}},
        'seeds': [r['seed'] for r in runs],
        'preset': args.preset,
        'seconds': round(seconds, 1),
    }


def print_table(summary: dict) -> None:
    """The demo's table: each measure's mean ± std for LocCa and Cap, and the margins."""

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


# ------------------------------------------------------------------------------ pictures
COLOURS = {'locca': 'tab:red', 'cap': 'tab:blue'}


def _plot_rec_curves(ax, runs: list) -> None:
    """Every seed's REC validation curve, per variant and model."""
    styles = {'plain': '-', 'aided': '--'}
    for r in runs:
        for v, by_model in r['rec'].items():
            for n, res in by_model.items():
                pts = [(it, a) for it, a in res['curve'] if a is not None]
                if pts:
                    ax.plot(*zip(*pts), styles.get(v, ':'), color=COLOURS[n], alpha=0.7,
                            marker='o', ms=3, label=f'{n}, {v}' if r is runs[0] else None)
    ax.set(title='REC protocol: val Acc@0.5 while the fresh decoder trains',
           xlabel='REC iteration', ylabel='Acc@0.5 (%)', ylim=(0, 100))
    ax.legend(fontsize=7)


def _plot_pretrain_val(ax, runs: list) -> None:
    """Validation while pretraining: LocCa's own ARef, both models' CIDEr."""
    for r in runs:
        for n in MODELS:
            curve = r['models'][n]['val_curve']
            for key, style, scale in (('aref/Acc@0.5', '-', 1.0), ('caption/CIDEr', ':', 0.25)):
                pts = [(it, m[key] * scale) for it, m in curve if key in m]
                if pts:
                    ax.plot(*zip(*pts), style, color=COLOURS[n], marker='o', ms=3,
                            label=f'{n}, {key}{" / 4" if scale != 1 else ""}'
                            if r is runs[0] else None)
    ax.set(title='pretraining validation (held-out expressions and captions)',
           xlabel='pretraining iteration', ylabel='own ARef Acc@0.5 (%), CIDEr / 4',
           ylim=(0, 100))
    ax.legend(fontsize=7)


def plot(runs: list, summary: dict, path: str) -> None:
    """REC learning curves (every seed), REC accuracy and dense-probe mIoU with spreads."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 4, figsize=(21, 4.2))
    _plot_rec_curves(axes[0], runs)
    labels, values, errors, cols = [], [], [], []
    for v, rec in summary['rec_variants'].items():
        for n in MODELS:
            labels.append(f'{n}\n{v}')
            values.append(rec['acc'][n]['mean'])
            errors.append(rec['acc'][n]['std'])
            cols.append(COLOURS[n])
    axes[1].bar(labels, values, yerr=errors, color=cols, capsize=4)
    axes[1].set(title='REC Acc@0.5 on ref_test (mean ± std over seeds)', ylim=(0, 100))
    probe = summary['dense_probe_miou']
    axes[2].bar(['LocCa', 'Cap'], [probe[n]['mean'] for n in MODELS],
                yerr=[probe[n]['std'] for n in MODELS], color=[COLOURS[n] for n in MODELS],
                capsize=4)
    axes[2].set(title='linear dense probe mIoU (frozen encoder)', ylim=(0, 100))
    _plot_pretrain_val(axes[3], runs)
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
