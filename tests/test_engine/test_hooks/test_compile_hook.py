"""CompileLossHook: ``model.loss`` compiled in a run of tools/train.py, training as the
uncompiled static layout does; refused for the dynamic layout."""
import os.path as osp
from types import SimpleNamespace

import pytest
import torch

from locca_mm.compat.checkpoint_io import safe_torch_load
from locca_mm.engine import CompileLossHook
from tests.conftest import ROOT, assert_same_training_state, run_tool
from tests.test_models.utils import build_tiny, make_batch

SHAPES = osp.join(ROOT, 'configs', 'locca', 'locca_vit-tiny_1xb48-900it_shapes.py')
BODY = """
train_cfg = dict(max_iters=3, val_interval=100)
train_dataloader = dict(batch_size=6, num_workers=0, persistent_workers=False,
                        dataset=dict(num_samples=60))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=2, eta_min_ratio=0.0)]
default_hooks = dict(checkpoint=dict(interval=3, save_best=None), logger=dict(interval=1))
randomness = dict(seed=3, deterministic=True)
model = dict(head=dict(static_shapes=True))
val_cfg = None
val_dataloader = None
val_evaluator = None
"""


@pytest.mark.slow
def test_compiled_run_trains_as_the_uncompiled_static_run(tmp_path):
    """Dynamo's eager backend runs the captured graph op for op: the weights after three
    steps equal the uncompiled run's bit for bit (inductor's numerics:
    tests/test_models/test_static_shapes.py)."""
    states = {}
    for name, hooks in (('plain', ''), ('compiled', "dict(type='CompileLossHook', "
                                                   "backend='eager')")):
        cfg = tmp_path / f'{name}.py'
        cfg.write_text(f"_base_ = ['{SHAPES}']\n{BODY}\n"
                       f"custom_hooks = [*_base_.custom_hooks, {hooks}]\n")
        proc = run_tool(['train.py', str(cfg), '--work-dir', str(tmp_path / name)])
        assert proc.returncode == 0, proc.stderr[-3000:]
        states[name] = safe_torch_load(str(tmp_path / name / 'iter_3.pth'))
    logs = (tmp_path / 'compiled').rglob('*.log')
    assert any('CompileLossHook: model.loss compiled' in f.read_text() for f in logs)
    assert_same_training_state(states['plain'], states['compiled'])


def test_refuses_the_dynamic_layout():
    model = build_tiny()
    runner = SimpleNamespace(model=model)
    with pytest.raises(ValueError, match='static_shapes=True'):
        CompileLossHook().before_train(runner)
    model.head.static_shapes = True
    CompileLossHook(backend='eager').before_train(runner)
    assert 'loss' in vars(model)  # the instance's loss is now the compiled function
    data = make_batch(model.eval(), n=2)
    args = (data['inputs'], data['data_samples'], data['task_batches'])
    compiled, plain = model.loss(*args), type(model).loss(model, *args)
    assert compiled.keys() == plain.keys()
    for key in plain:
        torch.testing.assert_close(compiled[key], plain[key])


def test_mmengine_compile_key_becomes_the_hook_for_locca_models():
    from mmengine.config import Config

    from locca_mm.cli.common import compile_as_hook
    cfg = Config.fromfile(SHAPES)
    cfg.compile = dict(mode='max-autotune')
    compile_as_hook(cfg)
    assert cfg.compile is None and cfg.model.head.static_shapes is True
    assert cfg.custom_hooks[-1] == dict(type='CompileLossHook', mode='max-autotune')
    assert [h['type'] for h in cfg.custom_hooks].count('CompileLossHook') == 1
    # a towers-only model (CLIP) gets bucketed caption rows from its preprocessor
    clip = Config.fromfile(osp.join(ROOT, 'configs', 'clip', 'clip_vit-b16_256xb32-1100k_webli.py'))
    clip.compile = True
    compile_as_hook(clip)
    assert clip.model.data_preprocessor['static_shapes'] is True and clip.compile is None
    # another library's model keeps mmengine's compile
    toy = Config.fromfile(osp.join(ROOT, 'configs', 'toy', 'toy_regression.py'))
    toy.custom_imports = dict(imports=['tests.toy'], allow_failed_imports=False)
    import tests.toy  # noqa: F401  (registers the toy model)
    toy.compile = True
    compile_as_hook(toy)
    assert toy.compile is True


def test_fsdp2_sharded_model_compiles_block_by_block(tmp_path):
    """FSDP2 (one gloo process): the hook drops fullgraph and the compiled sharded model
    gives the uncompiled sharded model's losses."""
    import socket

    import torch.distributed as dist

    from locca_mm.engine.strategies.fsdp2 import FSDP2Strategy
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=0,
                            world_size=1)
    try:
        model = build_tiny(static_shapes=True).train()
        data = make_batch(model, n=4)
        sharded = FSDP2Strategy()._wrap_model(model)
        args = (data['inputs'], data['data_samples'], data['task_batches'])
        torch.manual_seed(0)
        plain = sharded(*args, mode='loss')
        CompileLossHook(backend='eager').before_train(SimpleNamespace(model=sharded))
        torch.manual_seed(0)
        compiled = sharded(*args, mode='loss')
        for key in plain:
            torch.testing.assert_close(compiled[key], plain[key])
        sum(compiled.values()).backward()
    finally:
        dist.destroy_process_group()
