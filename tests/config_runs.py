"""Run configs as any mmengine user would: ``Runner.from_cfg``, no locca_mm tool, no fix.

``python -m tests.config_runs WORK_DIR CONFIG...`` trains each config (its tiny
variant, :func:`tiny_variant`) for 2 iterations with one validation, tests it
when it has a test loop, and prints one JSON line per config. Used by
tests/test_config_runs.py in a fresh process, where ``apply_runtime_fixes`` has
not run.
"""
import copy
import json
import os
import os.path as osp
import sys
import traceback

import torch
from mmengine.config import Config

from locca_mm.cli import leaf_datasets
from tests.test_models.utils import IMG, shrink_model

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.join(ROOT, 'tests', 'data')
SIZE_KEYS = ('scale', 'crop_size', 'img_size', 'size')


def _to_fixtures(dataset: dict) -> None:
    """Point a dataset config at the small files under tests/data."""
    kind = dataset.get('type', '').split('.')[-1]
    if kind == 'ShardedTarDataset':
        dataset['shards'] = osp.join(DATA, 'shards', 'shard-{000000..000001}.tar')
    elif kind == 'RefCOCODataset':
        dataset['data_root'] = osp.join(DATA, 'refcoco')
        for held in dataset.get('exclude_images_of') or []:  # the union's held-out splits
            held['data_root'] = osp.join(DATA, 'refcoco')
    elif kind == 'CocoCaptionDataset':
        objects_only = 'instances' in osp.basename(dataset.get('ann_file', ''))
        dataset.update(data_root=osp.join(DATA, 'coco'),
                       ann_file=f'annotations/{"instances" if objects_only else "captions"}'
                                '_tiny.json',
                       data_prefix=dict(img_path='images/'))
        if dataset.get('instances_file'):
            dataset['instances_file'] = 'annotations/instances_tiny.json'
    elif kind in ('SyntheticShapes', 'ShapesClassification'):
        dataset.update(img_size=IMG, num_samples=min(dataset.get('num_samples', 8), 8))
    elif kind == 'ToyRegressionDataset':
        pass
    elif kind in ('HolisticClassification', 'HolisticCaption', 'HolisticVQA'):
        # data/<benchmark>/ in its released layout -> tests/data/holistic/<benchmark>/
        reader = dataset['reader']
        reader['data_root'] = osp.join(DATA, 'holistic',
                                       osp.basename(reader['data_root'].rstrip('/')))
    else:
        raise ValueError(f'no fixture for dataset type {kind!r}')


def _shrink_sizes(obj):
    """Image sizes in pipelines become the tiny encoder's ``IMG``."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in SIZE_KEYS and isinstance(v, (int, tuple, list)):
                obj[k] = (IMG, IMG) if isinstance(v, (tuple, list)) else IMG
            else:
                _shrink_sizes(v)
    elif isinstance(obj, list):
        for v in obj:
            _shrink_sizes(v)


def tiny_variant(cfg: Config, work_dir: str, encoder_file: str) -> Config:
    """``cfg`` shrunk: tiny encoder and decoder, fixture data, 2 iterations, 1 validation.

    Everything else (optimizer and its constructor, schedulers, hooks, evaluators,
    pipelines, loops) is the config's own. A ``Pretrained`` encoder ``init_cfg``
    is pointed at ``encoder_file`` (a tiny checkpoint written by the caller).
    """
    if cfg.model.get('type', '').split('.')[-1] in ('LocCa', 'SigLIP2'):
        model = cfg.model.to_dict()
        init = model['backbone'].get('init_cfg')
        text_type = model['tokenizer'].get('text_tokenizer', {}).get('type', '')
        needs_file = text_type in ('SentencePieceTokenizer', 'HFTokenizer')
        model = shrink_model(model, tokenizer=needs_file)
        if init:
            model['backbone']['init_cfg'] = dict(init, checkpoint=encoder_file)
        head_init = (model.get('head') or {}).get('init_cfg')
        if head_init:  # a pretrained decoder (REC fine-tuning): the same tiny checkpoint's
            model['head']['init_cfg'] = dict(head_init, checkpoint=encoder_file)
        if (model.get('test_cfg') or {}).get('max_new_tokens'):
            model['test_cfg']['max_new_tokens'] = 16  # the tiny decoder holds 32 positions
        cfg.model = model
        # The one tokenizer changed, for the data too (as a user changes it in both places).
        for phase in ('train', 'val', 'test'):
            for dataset in leaf_datasets((cfg.get(f'{phase}_dataloader') or {}).get('dataset')):
                if dataset.get('tokenizer') is not None:
                    dataset['tokenizer'] = copy.deepcopy(model['tokenizer'])
    for phase in ('val', 'test'):
        evaluator = cfg.get(f'{phase}_evaluator')
        for metric in evaluator if isinstance(evaluator, list) else [evaluator]:
            if isinstance(metric, dict) and metric.get('ann_file'):  # COCO detection metric
                metric['ann_file'] = osp.join(DATA, 'coco', 'annotations', 'instances_tiny.json')
    for phase in ('train', 'val', 'test'):
        loader = cfg.get(f'{phase}_dataloader')
        if not loader:
            continue
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
        loader.pop('pin_memory', None)
        for dataset in leaf_datasets(loader['dataset']):
            _to_fixtures(dataset)
        _shrink_sizes(loader['dataset'])
    if cfg.get('train_cfg'):
        cfg.train_cfg.update(max_iters=2, val_interval=2)
        cfg.train_cfg.pop('max_epochs', None)
    for s in cfg.get('param_scheduler') or []:
        for key, cap in (('begin', 1), ('end', 2)):
            if key in s:
                s[key] = min(s[key], cap)
    for hook in cfg.get('custom_hooks') or []:
        if hook.get('type') == 'SigLIP2StageHook' and hook.get('start_iter') is None:
            # SigLIP 2's stage two from the second of the 2 iterations: both stages run.
            hook['start_fraction'] = min(hook.get('start_fraction', 0.8), 0.5)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    if cfg.default_hooks.get('checkpoint'):
        cfg.default_hooks.checkpoint.update(interval=2, max_keep_ckpts=1)
    cfg.vis_backends = [dict(type='LocalVisBackend')]
    cfg.visualizer = dict(cfg.get('visualizer') or dict(type='Visualizer'),
                          vis_backends=cfg.vis_backends, name=f'vis_{osp.basename(work_dir)}')
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.launcher = 'none'
    return cfg


def _tiny_encoder_file(cfg: Config, path: str) -> str:
    """A checkpoint of the tiny variant's own (random) model, in the pretraining layout:
    its encoder, and its decoder for a config that starts from a pretrained one."""
    from locca_mm.registry import MODELS
    from locca_mm.utils import register_all_modules
    register_all_modules()
    model = copy.deepcopy(cfg.model)
    model['backbone'] = dict(model['backbone'], init_cfg=None)
    head_pretrained = bool((model.get('head') or {}).get('init_cfg'))
    if head_pretrained:
        model['head'] = dict(model['head'], init_cfg=None)
    built = MODELS.build(model)
    state = {f'backbone.{k}': v for k, v in built.backbone.state_dict().items()}
    if head_pretrained:
        state.update({f'head.{k}': v for k, v in built.head.state_dict().items()})
    torch.save({'state_dict': state}, path)
    return path


def _tiny_model_file(cfg: Config, path: str) -> str:
    """A checkpoint of the tiny variant's whole (random) model, for a config's ``load_from``
    (drawn with another seed than the run's own initialisation, so that loading shows)."""
    from locca_mm.registry import MODELS
    from locca_mm.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(1)
    os.makedirs(osp.dirname(path), exist_ok=True)
    torch.save({'state_dict': MODELS.build(copy.deepcopy(cfg.model)).state_dict()}, path)
    return path


def _runner_class(cfg: Config):
    """The runner a config names: ``FlexibleRunner`` (its ``strategy``, e.g. FSDP) or ``Runner``.

    A FlexibleRunner's sharding strategy needs a process group: one process joins a gloo
    group of one, the way ``torchrun --nproc_per_node 1`` would start it.
    """
    from mmengine.runner import FlexibleRunner, Runner
    if cfg.get('runner_type') != 'FlexibleRunner':
        return Runner
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{_free_port()}',
                                rank=0, world_size=1)
    return FlexibleRunner


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run(path: str, work_root: str) -> dict:
    """Train (2 iterations, one validation) and test one config, through the runner it names
    (``Runner`` or ``FlexibleRunner``); what happened, as a dict."""
    name = osp.splitext(osp.relpath(path, osp.join(ROOT, 'configs')))[0].replace('/', '__')
    work_dir = osp.join(work_root, name)
    out = dict(config=osp.relpath(path, ROOT), trained=False, tested=False)
    try:
        cfg = tiny_variant(Config.fromfile(path), work_dir, osp.join(work_root, f'{name}.pth'))
        init = cfg.model.get('backbone', {}).get('init_cfg') or {}
        if init.get('type') == 'Pretrained':
            _tiny_encoder_file(cfg, init['checkpoint'])
        if cfg.get('load_from'):  # a whole pretrained model: the tiny variant's own (random)
            cfg.load_from = _tiny_model_file(cfg, osp.join(work_root, f'{name}_model.pth'))
        runner = _runner_class(cfg).from_cfg(cfg)
        out['runner'] = type(runner).__name__
        if cfg.get('train_dataloader'):
            runner.train()
            out['trained'] = runner.iter == 2
            out['validated'] = sorted(k for k in runner.message_hub.log_scalars
                                      if k.startswith('val/'))
        if cfg.get('test_dataloader'):
            out['metrics'] = {k: float(v) for k, v in runner.test().items()
                              if isinstance(v, (int, float))}
            out['tested'] = True
    except Exception:  # noqa: BLE001 - reported to the test, with the traceback
        out['error'] = traceback.format_exc()[-3000:]
    return out


def resume(path: str, work_root: str) -> dict:
    """Train 2 iterations, then resume in a new Runner to 3: the iteration and logs carry on."""
    from mmengine.runner import Runner
    out = run(path, work_root)
    name = osp.splitext(osp.relpath(path, osp.join(ROOT, 'configs')))[0].replace('/', '__')
    cfg = tiny_variant(Config.fromfile(path), osp.join(work_root, name), '')
    cfg.train_cfg.max_iters = 3
    cfg.resume = True
    cfg.visualizer.name = f'vis_{name}_resumed'
    runner = Runner.from_cfg(cfg)
    runner.train()
    scalar = runner.message_hub.get_scalar('train/loss')
    out.update(resumed_iter=runner.iter, loss_history=len(scalar.data[0]))
    return out


if __name__ == '__main__':
    if sys.argv[2] == '--resume':
        print(json.dumps(resume(sys.argv[3], sys.argv[1])), flush=True)
    else:
        for config in sys.argv[2:]:
            print(json.dumps(run(config, sys.argv[1])), flush=True)
