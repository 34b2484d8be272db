"""Bad checkpoints stop with the missing or mismatched keys named, never a partial load."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from locca_mm.models import LocCaViT
from tests.conftest import run_tool, tool_error

from .utils import ARCH, PATCH, config_path, save_tiny_locca


def _detector(checkpoint):
    """The Mask R-CNN transfer config's model with the tiny encoder, initialised from a file."""
    from mmdet.registry import MODELS
    cfg = Config.fromfile(
        config_path('mmdet/mask-rcnn_locca-vit-b_simplefpn_lsj-100e_coco.py')).model
    cfg.backbone.update(arch=ARCH, img_size=64, init_cfg=dict(
        type='Pretrained', checkpoint=checkpoint, prefix='backbone.'))
    d = ARCH['embed_dims']
    cfg.neck.update(backbone_channel=d, in_channels=[d // 4, d // 2, d, d])
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg)


def test_checkpoint_without_backbone_keys_is_refused(tmp_path):
    # e.g. a bare encoder state dict (timm-style names, no prefix)
    path = tmp_path / 'bare.pth'
    torch.save(LocCaViT(arch=ARCH, img_size=64).state_dict(), path)
    detector = _detector(str(path))
    before = {k: v.clone() for k, v in detector.backbone.state_dict().items()}
    with pytest.raises(KeyError, match=r"no parameters under the prefix 'backbone\.'.*"
                                       r"'blocks\.' \(\d+\)"):
        detector.init_weights()
    assert all(torch.equal(v, before[k]) for k, v in detector.backbone.state_dict().items())


def test_checkpoint_of_another_width_names_the_mismatched_tensors(tmp_path):
    path = tmp_path / 'wide.pth'
    save_tiny_locca(str(path), arch=dict(ARCH, embed_dims=48, num_heads=2))
    with pytest.raises(ValueError, match=r'patch_embed\.proj\.weight: checkpoint '
                                         r'\(48, 3, 16, 16\) vs model \(32, 3, 16, 16\)'):
        _detector(str(path)).init_weights()


def test_checkpoint_of_another_depth_names_the_missing_blocks(tmp_path):
    path = tmp_path / 'shallow.pth'
    save_tiny_locca(str(path), arch=dict(ARCH, num_layers=3))
    model = LocCaViT(arch=ARCH, patch_size=PATCH, img_size=64,
                     init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    with pytest.raises(KeyError, match=r"missing keys \['blocks\.3\.attn\.proj\.bias'"):
        model.init_weights()


def _one_line_error(tool, argv):
    """What ``tools/model_converters/<tool>`` stops with on ``argv``: one error line."""
    return tool_error(run_tool([f'model_converters/{tool}', *argv]))


def test_tools_explain_bad_input_in_one_line(tmp_path):
    bare = tmp_path / 'bare.pth'
    torch.save({'state_dict': {'encoder.w': torch.zeros(2)}}, bare)
    err = _one_line_error('extract_encoder.py', [str(bare), str(tmp_path / 'out.pth')])
    assert "no parameters under the prefix 'backbone.'" in err and "'encoder.' (1)" in err
    err = _one_line_error('extract_encoder.py', [str(tmp_path / 'none.pth'),
                                                 str(tmp_path / 'o.pth')])
    assert 'checkpoint not found' in err
    err = _one_line_error('extract_encoder.py', [str(bare), str(tmp_path / 'o.pth'),
                                                 '--safetensors'])
    assert '.safetensors' in err
    assert not (tmp_path / 'out.pth').exists() and not (tmp_path / 'o.pth').exists()

    npz = tmp_path / 'not_vit.npz'
    np.savez(npz, **{'encoder/kernel': np.zeros(3)})
    err = _one_line_error('big_vision_vit.py', [str(npz), str(tmp_path / 'o.pth')])
    assert 'not a big_vision ViT' in err
    err = _one_line_error('timm_vit.py', [str(tmp_path / 'none.pth'), str(tmp_path / 'o.pth')])
    assert 'checkpoint not found' in err
