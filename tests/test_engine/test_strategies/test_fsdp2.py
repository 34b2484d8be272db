"""FSDP2Strategy (engine/strategies/fsdp2.py) through FlexibleRunner on two CPU processes:
same training as DDP, full checkpoints."""
import pytest
import torch

from tests.conftest import ROOT, free_port, run_tool

BASE = f"""
_base_ = ['{ROOT}/configs/locca/locca_vit-tiny_1xb48-600it_shapes.py']
train_cfg = dict(max_iters=4)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
train_dataloader = dict(batch_size=4, dataset=dict(num_samples=64))
default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts=3), logger=dict(interval=1))
model = dict(head=dict(parallel_ratio=0.0))
test_dataloader = None
test_evaluator = None
test_cfg = None
"""
FSDP = "runner_type = 'FlexibleRunner'\nstrategy = dict(type='locca_mm.FSDP2Strategy')\n"


def _train(tmp_path, name, text, *extra):
    cfg = tmp_path / f'{name}.py'
    cfg.write_text(text)
    work = tmp_path / name
    proc = run_tool(['dist_train.sh', str(cfg), '2', '--work-dir', str(work), *extra],
                    PORT=str(free_port()), timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work


@pytest.mark.slow
def test_fsdp2_matches_ddp_and_resumes(tmp_path):
    from locca_mm.registry import MODELS
    from locca_mm.utils.checkpoint_io import safe_torch_load
    from locca_mm.utils.cli import load_config
    # Both runs start from the same weights (the runners seed their inits differently).
    (tmp_path / 'probe.py').write_text(BASE)
    model = MODELS.build(load_config(str(tmp_path / 'probe.py')).model)
    expected = model.state_dict()
    torch.save({'state_dict': expected}, tmp_path / 'init.pth')
    start = f"load_from = '{tmp_path / 'init.pth'}'\n"
    fsdp = _train(tmp_path, 'fsdp', BASE + FSDP + start)
    ddp = _train(tmp_path, 'ddp', BASE + start)
    a = safe_torch_load(str(fsdp / 'iter_4.pth'))
    b = safe_torch_load(str(ddp / 'iter_4.pth'))
    # Full, unsharded tensors with the model's own names and shapes.
    assert set(a['state_dict']) == set(expected)
    for k, v in expected.items():
        assert a['state_dict'][k].shape == v.shape, k
        assert torch.allclose(a['state_dict'][k], b['state_dict'][k], atol=2e-5), k
    # Resume from iteration 2 reaches the same parameters as the uninterrupted run.
    resumed = _train(tmp_path, 'fsdp_resumed', BASE + FSDP, '--resume', str(fsdp / 'iter_2.pth'))
    c = safe_torch_load(str(resumed / 'iter_4.pth'))
    for k in expected:
        assert torch.allclose(a['state_dict'][k], c['state_dict'][k], atol=1e-5), k
