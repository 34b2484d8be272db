"""OpenMMLab packaging: ``locca_mm::`` config bases, ``mim train/test locca_mm``, the wheel's
``locca_mm/.mim``."""
import glob
import os.path as osp
import subprocess
import sys
import zipfile

import pytest
from mmengine.config import Config

import locca_mm  # noqa: F401  (registers the locca_mm:: config prefix)
from tests.conftest import ROOT, tool_env


def test_a_config_outside_the_repo_inherits_a_locca_mm_config(tmp_path):
    path = tmp_path / 'my_locca.py'
    path.write_text("_base_ = ['locca_mm::locca/locca_vit-tiny_1xb48-900it_shapes.py']\n"
                    "train_cfg = dict(max_iters=4)\n")
    cfg = Config.fromfile(str(path))
    own = Config.fromfile(
        osp.join(ROOT, 'configs', 'locca', 'locca_vit-tiny_1xb48-900it_shapes.py'))
    assert cfg.train_cfg.max_iters == 4 and cfg.train_cfg.val_interval == 200
    # mmengine marks what comes from another package with its scope.
    assert cfg.model.pop('_scope_') == 'locca_mm'
    assert cfg.model == own.model and cfg.default_scope == 'locca_mm'


@pytest.mark.slow
def test_mim_trains_and_tests_a_locca_mm_config(tmp_path):
    mim = [osp.join(osp.dirname(sys.executable), 'mim')]
    work = tmp_path / 'work'
    proc = subprocess.run(mim + ['train', 'locca_mm', 'toy_regression.py', '--work-dir', str(work),
                                 '--cfg-options', 'train_cfg.max_iters=6'],
                          cwd=str(tmp_path), env=tool_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert (work / 'iter_6.pth').is_file()
    proc = subprocess.run(mim + ['test', 'locca_mm', 'toy_regression.py', '--checkpoint',
                                 str(work / 'iter_6.pth'), '--work-dir', str(tmp_path / 'test')],
                          cwd=str(tmp_path), env=tool_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert 'toy/mse' in proc.stdout + proc.stderr


def test_the_wheel_carries_configs_tools_and_the_model_index(tmp_path):
    # Built from a copy of the tracked files: building in place turns the editable
    # install's locca_mm/.mim symlinks into copies.
    files = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    src = tmp_path / 'src'
    for name in files:
        if name.startswith('locca_mm/.mim') or not osp.isfile(osp.join(ROOT, name)):
            continue
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(open(osp.join(ROOT, name), 'rb').read())
    proc = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                           '--no-build-isolation', '-w', str(tmp_path / 'dist'), str(src)],
                          env=tool_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = zipfile.ZipFile(glob.glob(str(tmp_path / 'dist' / '*.whl'))[0]).namelist()
    for expected in ('locca_mm/.mim/configs/locca/locca_vit-b16_256xb32-1100k_webli.py',
                     'locca_mm/.mim/configs/_base_/default_runtime.py',
                     'locca_mm/.mim/configs/locca/metafile.yml',
                     'locca_mm/.mim/tools/train.py', 'locca_mm/.mim/tools/dist_train.sh',
                     'locca_mm/.mim/model-index.yml'):
        assert expected in names, expected
    assert not [n for n in names if n.startswith('tests/')]
