"""The tools' shared steps (cli/common.py): configs, encoder_from, work dirs, errors."""
import os.path as osp

import pytest
from mmengine.config import Config

from locca_mm.cli import (
    SetupError,
    SetupGuard,
    apply_encoder_from,
    default_work_dir,
    load_config,
    run_cli,
)
from tests.conftest import ROOT

SHAPES = osp.join(ROOT, 'configs', 'locca', 'locca_vit-tiny_1xb48-900it_shapes.py')


def test_load_config_merges_options_and_names_a_missing_file(tmp_path):
    cfg = load_config(SHAPES, dict(train_cfg=dict(max_iters=4)))
    assert cfg.train_cfg.max_iters == 4
    # The config itself gives the training data the model's tokenizer.
    assert cfg.train_dataloader.dataset.tokenizer == cfg.model.tokenizer
    with pytest.raises(SetupError, match='config file not found'):
        load_config(str(tmp_path / 'absent.py'))
    bad = tmp_path / 'bad.py'
    bad.write_text('model = dict(\n')
    with pytest.raises(SetupError, match='cannot read config'):
        load_config(str(bad))


def test_encoder_from_becomes_the_backbone_init_cfg():
    cfg = apply_encoder_from(Config(dict(model=dict(backbone=dict()), encoder_from='enc.pth')))
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint='enc.pth',
                                               prefix='backbone.')


def test_model_from_also_starts_a_pretrained_decoder_from_the_checkpoint():
    head = dict(init_cfg=dict(type='Pretrained', prefix='head.', checkpoint='default.pth'))
    cfg = apply_encoder_from(Config(dict(model=dict(backbone=dict(), head=head),
                                         model_from='locca.pth')))
    assert cfg.model.backbone.init_cfg.checkpoint == 'locca.pth'
    assert cfg.model.head.init_cfg == dict(type='Pretrained', prefix='head.',
                                           checkpoint='locca.pth')
    # A fresh decoder (the frozen protocols) stays fresh; encoder_from never touches it.
    fresh = apply_encoder_from(Config(dict(model=dict(backbone=dict(), head=dict()),
                                           model_from='locca.pth')))
    assert fresh.model.backbone.init_cfg.checkpoint == 'locca.pth'
    assert 'init_cfg' not in fresh.model.head
    only = apply_encoder_from(Config(dict(model=dict(backbone=dict(), head=head),
                                          encoder_from='enc.pth')))
    assert only.model.head.init_cfg.checkpoint == 'default.pth'


def test_default_work_dir_is_named_after_the_config():
    assert default_work_dir('configs/toy/toy_regression.py') == './work_dirs/toy_regression'


def test_setup_guard_removes_only_what_a_failed_setup_wrote(tmp_path):
    (tmp_path / 'kept.txt').write_text('x')
    with pytest.raises(SetupError, match='boom'):
        with SetupGuard(str(tmp_path)):
            (tmp_path / 'new.log').write_text('y')
            raise RuntimeError('boom\nmore lines')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['kept.txt']


def test_run_cli_turns_a_setup_error_into_one_line_and_exit_1(capsys, monkeypatch):
    monkeypatch.delenv('LOCCA_DEBUG', raising=False)

    def main(argv):
        raise SetupError('no such checkpoint: x.pth')

    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, [])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip().endswith('error: no such checkpoint: x.pth')
