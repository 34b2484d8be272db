"""The installed stack: every framework the transfer configs need imports and runs an op."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT


def test_openmmlab_stack_imports_and_mmcv_ops_run():
    import mmdet.models  # noqa: F401
    import mmpretrain.models  # noqa: F401
    import mmseg.models  # noqa: F401
    from mmcv.ops import nms

    import locca_mm
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert locca_mm.__version__


def test_pycocoevalcap_imports():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    score, _ = Bleu(4).compute_score({1: ['a cat on a mat']}, {1: ['a cat on a mat']})
    assert score[0] == pytest.approx(1.0, abs=1e-6)
    assert Cider is not None


def test_second_install_is_a_no_op():
    """`make install` on a ready venv returns at once (only for venvs it created)."""
    stamp = osp.join(sys.prefix, '.locca_mm-install')
    if not osp.isfile(stamp):
        pytest.skip('this environment was not created by tools/install/install.sh')
    env = dict(os.environ, VENV=sys.prefix)
    script = osp.join(ROOT, 'tools', 'install', 'install.sh')
    check = subprocess.run(['bash', script, '--check'], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    if check.returncode != 0:
        pytest.skip('the environment is older than the requirement files: run `make install`')
    proc = subprocess.run(['bash', script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert 'up to date' in proc.stdout
    # Anything but the fingerprint's inputs is out of scope: a changed requirement
    # makes --check report the environment stale.
    env_changed = dict(env, LOCCA_TORCH='torch==0.0.0')
    stale = subprocess.run(['bash', script, '--check'], cwd=ROOT, env=env_changed,
                           capture_output=True, text=True, timeout=60)
    assert stale.returncode == 1 and 'out of date' in stale.stdout


_WITHOUT_OPS = '''
import importlib.abc, importlib.util, runpy, sys

def hidden(name):
    return name == 'mmcv.ops' or name.startswith(('mmcv.ops.', 'mmcv._ext'))

class HideOps(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if hidden(name):
            raise ModuleNotFoundError('mmcv was built without ops (' + name + ')', name=name)

_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if hidden(name) else _find_spec(name, *a)
sys.meta_path.insert(0, HideOps())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
assert not any(m.startswith('mmcv.ops') for m in sys.modules), 'mmcv.ops was imported'
'''


@pytest.mark.slow
def test_pretraining_and_rec_run_without_mmcv_ops(tmp_path):
    """LOCCA_MMCV_OPS=0 installs: pretraining, the REC protocol and its metric need no ops."""
    from tests.conftest import tool_env
    configs = osp.join(ROOT, 'configs')
    quick = ['train_cfg.max_iters=2', 'train_dataloader.batch_size=4',
             'param_scheduler.0.end=1', 'param_scheduler.1.begin=1']

    def train(config, work_dir, *options):
        cmd = [sys.executable, '-c', _WITHOUT_OPS, osp.join(ROOT, 'tools', 'train.py'),
               osp.join(configs, config), '--work-dir', str(work_dir), '--cfg-options',
               *quick, *options]
        return subprocess.run(cmd, cwd=ROOT, env=tool_env(), capture_output=True, text=True,
                              timeout=300)

    proc = train('locca/locca_vit-tiny_1xb48-900it_shapes.py', tmp_path / 'pre')
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = train('shapes/rec_tiny_shapes.py', tmp_path / 'rec',
                 f'encoder_from={tmp_path}/pre/iter_2.pth', 'val_dataloader.dataset.num_samples=4')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'refcoco/acc@0.5' in (proc.stdout + proc.stderr).lower()
