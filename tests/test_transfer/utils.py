"""Tiny LocCa checkpoints, shrunk transfer configs and a runner that records what it did."""
import math
import os.path as osp
from typing import Dict, List
from unittest import mock

import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from locca_mm.models.layers import resize_pos_embed
from locca_mm.registry import MODELS
from tests.conftest import ROOT
from tests.test_models.utils import LOCCA_B

# A 4-block encoder: Feature2Pyramid takes four block outputs; patch 16 keeps mmdet's strides.
ARCH = dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64)
PATCH = 16
PRETRAIN_SIZE = 64  # the tiny LocCa's input size: a 4 x 4 position table
DATA = osp.join(ROOT, 'tests', 'data')
SIZE_KEYS = ('scale', 'crop_size', 'img_size', 'size')


def config_path(name: str) -> str:
    return osp.join(ROOT, 'configs', name)


def save_tiny_locca(path: str, seed: int = 0, **backbone) -> Dict[str, torch.Tensor]:
    """Save a tiny LocCa's full checkpoint (encoder, decoder, heads); return its encoder state."""
    from tests.test_models.utils import tiny_model_cfg
    cfg = tiny_model_cfg(LOCCA_B)
    cfg['backbone'].update(dict(arch=ARCH, patch_size=PATCH, img_size=PRETRAIN_SIZE), **backbone)
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    torch.save({'state_dict': model.state_dict()}, path)
    return {k: v.clone() for k, v in model.backbone.state_dict().items()}


def shrink(obj, sizes: dict):
    """Replace image sizes in a config: values of ``SIZE_KEYS`` found in ``sizes``."""
    if isinstance(obj, (dict, Config)):
        for k, v in list(obj.items()):
            key = tuple(v) if isinstance(v, (list, tuple)) else v
            if k in SIZE_KEYS and not isinstance(v, dict) and key in sizes:
                obj[k] = sizes[key]
            else:
                shrink(v, sizes)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            shrink(v, sizes)
    return obj


def for_test(cfg: Config, work_dir: str, checkpoint: str) -> Config:
    """Two training iterations, no validation or checkpoints, the tiny encoder's weights."""
    cfg.model.backbone.update(arch=ARCH, init_cfg=dict(type='Pretrained', checkpoint=checkpoint,
                                                       prefix='backbone.'))
    cfg.work_dir = work_dir
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=1000)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.visualizer.name = f'visualizer_{osp.basename(work_dir)}'
    cfg.randomness = dict(seed=0)
    cfg.log_level = 'WARNING'
    for phase in ('train', 'test'):
        loader = cfg[f'{phase}_dataloader']
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
    return cfg


class Recorder(Hook):
    """Keeps the backbone's weights after ``init_weights`` and every iteration's losses."""

    def __init__(self):
        self.backbone: Dict[str, torch.Tensor] = {}
        self.losses: List[dict] = []

    def before_train(self, runner) -> None:
        self.backbone = {k: v.detach().clone()
                         for k, v in runner.model.backbone.state_dict().items()}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.losses.append({k: float(v.detach()) for k, v in outputs.items()})


def train_and_predict(cfg: Config):
    """Train ``cfg`` (2 iterations) and predict one test batch: (runner, recorder, predictions)."""
    from mmengine.runner import Runner
    recorder = Recorder()
    # The runner logs and dumps the config formatted by yapf (~3 s a runner on this CPU);
    # nothing here reads it.
    with mock.patch.object(Config, 'pretty_text', property(lambda self: '')):
        runner = Runner.from_cfg(cfg)
        runner.register_hook(recorder)
        runner.train()
    loader = Runner.build_dataloader(cfg.test_dataloader)
    runner.model.eval()
    with torch.no_grad():
        predictions = runner.model.test_step(next(iter(loader)))
    return runner, recorder, predictions


def assert_trained(recorder: Recorder) -> None:
    assert len(recorder.losses) == 2
    for losses in recorder.losses:
        assert losses and all(math.isfinite(v) for v in losses.values()), losses


def assert_encoder_is(loaded: Dict[str, torch.Tensor], pretrained: Dict[str, torch.Tensor],
                      grid) -> None:
    """After init the encoder holds the checkpoint's tensors (the table resampled to ``grid``)."""
    assert set(loaded) == set(pretrained)
    for k, v in pretrained.items():
        if k == 'pos_embed':
            side = math.isqrt(v.shape[1])
            v = resize_pos_embed(v, (side, side), grid, mode='bicubic', num_extra_tokens=0)
            assert torch.allclose(loaded[k], v, atol=1e-6), k
        else:
            assert torch.equal(loaded[k], v), k


def assert_encoder_changed(trained: Dict[str, torch.Tensor],
                           initial: Dict[str, torch.Tensor]) -> None:
    """Training moved every block's weights (and the patch embedding) away from ``initial``."""
    assert set(trained) == set(initial)
    moved = {k for k in initial if not torch.equal(trained[k], initial[k])}
    blocks = {k.split('.')[1] for k in initial if k.startswith('blocks.')}
    assert blocks and all(any(k.startswith(f'blocks.{b}.') for k in moved) for b in blocks), \
        sorted(set(initial) - moved)
    assert 'patch_embed.proj.weight' in moved
