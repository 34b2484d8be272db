"""The embedded demo's stages (``tools/demo.py``): its scales (:data:`PRESETS`), its command
line (:func:`parse_args`) and the config of each stage for one seed (:func:`stage_config`).
``tools/analysis_tools/location_diagnostics.py`` runs the demo's REC protocol through them.
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from .common import SOURCE_ROOT

CONFIGS = osp.join(SOURCE_ROOT, 'configs')
MODELS = ('locca', 'cap')
PRETRAIN_CONFIGS = dict(locca='locca/locca_vit-tiny_1xb48-900it_shapes',
                        cap='cap/cap_vit-tiny_1xb48-900it_shapes')
REC_CONFIGS = dict(plain='shapes/rec_tiny_shapes', aided='shapes/rec-aided_tiny_shapes')
# What pretraining validates (configs/_base_/datasets/shapes_pretrain.py): the model's own
# ARef on held-out expressions (LocCa only), caption CIDEr, and CapPa's pretraining evals:
# the 10-shot linear probe, zero-shot classification by caption scoring, caption perplexity.
PRETRAIN_VAL = ('aref/Acc@0.5', 'caption/CIDEr', 'fewshot/10shot', 'zeroshot/accuracy',
                'caption/perplexity')
PROBE_SEED = 7_000  # the probe's images: a pretraining stream no run trains on
#: The demo's scales. ``cpu`` (default) runs the configs as they are (their steps too): a
#: 2-core CPU, minutes.
#: ``gpu`` is the same comparison for one GPU: larger images (96 px, a 12 x 12 token grid) and
#: models (a 6-layer width-192 encoder, a 3-layer decoder), batch 256, more steps, bfloat16
#: autocast, fused AdamW, 8 data workers. ``options`` apply to every stage, ``pretrain_options`` /
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
            'optim_wrapper.optimizer.fused': True,  # AdamW's update in one kernel
        },
        pretrain_options={},
        rec_options={'model.backbone.frozen_stages': 6}),  # the whole 6-block encoder
}


def parse_args(argv=None):
    """The demo's options (``tools/demo.py --help``); the preset fills what is not given."""
    parser = argparse.ArgumentParser(description='LocCa vs Cap on SyntheticShapes (CPU)')
    parser.add_argument('--recipe', choices=['locca', 'siglip2'], default='locca',
                        help='locca: LocCa vs Cap (the default); siglip2: SigLIP alone vs '
                        'SigLIP + LocCa vs SigLIP 2\'s full recipe (locca_mm.cli.demo_siglip2)')
    parser.add_argument('--work-dir', default=None,
                        help='default: work_dirs/demo (work_dirs/demo_siglip2 for --recipe '
                        'siglip2)')
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
    parser.add_argument('--compile', action='store_true',
                        help='train in the static row layout with model.loss compiled '
                        '(CompileLossHook): for a GPU (with --preset gpu); on a CPU the eager '
                        'default is faster')
    parser.add_argument('--num-vis', type=int, default=8, help='test images to draw (0: none)')
    parser.add_argument('--jobs', type=int, default=2,
                        help='processes per seed: 2 trains LocCa and Cap side by side, each '
                        'with half of the cores; 1 one after the other')
    args = parser.parse_args(argv)
    if args.work_dir is None:
        args.work_dir = 'work_dirs/demo' if args.recipe == 'locca' else 'work_dirs/demo_siglip2'
    preset = PRESETS[args.preset]
    for key in ('pretrain_iters', 'rec_iters', 'probe_images'):
        if getattr(args, key) is None:
            setattr(args, key, preset[key])
    return args


def compile_steps(cfg) -> None:
    """``cfg`` trains in the static row layout with ``model.loss`` compiled
    (:class:`~locca_mm.engine.CompileLossHook`)."""
    if cfg.model.get('head'):
        cfg.model.head.static_shapes = True
    cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type='CompileLossHook')]


def stage_config(name: str, work_dir: str, seed: int, args, iters=None, options=None,
                 **overrides):
    """``configs/<name>.py`` for one seed: training randomness and training data
    reseeded, test sets fixed; ``iters`` shortens it (warm-up scaled)."""
    from mmengine.config import Config

    from .common import apply_encoder_from, leaf_datasets
    cfg = Config.fromfile(osp.join(CONFIGS, f'{name}.py'))
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    # The start method this process already has (a demo worker is spawned): mmengine would
    # otherwise warn that the config's 'fork' differs, and switch.
    import multiprocessing
    cfg.env_cfg.mp_cfg.mp_start_method = multiprocessing.get_start_method(allow_none=True) or \
        cfg.env_cfg.mp_cfg.get('mp_start_method', 'fork')
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
    compile_steps(cfg) if getattr(args, 'compile', False) else None
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
        if cfg.get('test_dataloader'):
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
