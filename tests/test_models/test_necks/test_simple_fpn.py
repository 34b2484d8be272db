"""SimpleFPN: ViTDet's pyramid from one map (shapes, strides, norms, mmdet registry)."""
import pytest
import torch
from mmengine.registry import DefaultScope

from locca_mm.models import SimpleFPN


def _fpn(dim=32, num_outs=5, **kwargs):
    return SimpleFPN(backbone_channel=dim, in_channels=[dim // 4, dim // 2, dim, dim],
                     out_channels=16, num_outs=num_outs, **kwargs)


def test_levels_have_strides_4_to_64_for_patch_16():
    fpn = _fpn()
    x = torch.randn(2, 32, 8, 12)  # a 128 x 192 image at patch 16
    outs = fpn((torch.randn(2, 32, 8, 12), x))  # a tuple: the last map is used
    assert [tuple(o.shape) for o in outs] == [(2, 16, 32, 48), (2, 16, 16, 24), (2, 16, 8, 12),
                                             (2, 16, 4, 6), (2, 16, 2, 3)]
    # The tensor alone gives the same pyramid; the extra level subsamples the last one.
    same = fpn(x)
    assert all(torch.equal(a, b) for a, b in zip(outs, same))
    assert torch.equal(outs[4], outs[3][:, :, ::2, ::2])
    assert len(_fpn(num_outs=4)(x)) == 4


def test_norms_are_channel_layernorms_and_every_parameter_trains():
    fpn = _fpn()
    norms = [m for m in fpn.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 1 + 2 * 4  # inside the x4 branch, and in each lateral / output conv
    out = fpn(torch.randn(1, 32, 4, 4))
    sum(o.sum() for o in out).backward()
    assert all(p.grad is not None for p in fpn.parameters())
    # LayerNorm over channels: every output position of a level is normalised.
    lateral = fpn.lateral_convs[2](torch.randn(1, 32, 4, 4))
    assert torch.allclose(lateral.mean(1), torch.zeros(1, 4, 4), atol=1e-5)


def test_built_from_an_mmdet_config_by_scoped_name():
    from mmdet.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        fpn = MODELS.build(dict(type='locca_mm.SimpleFPN', backbone_channel=32,
                                in_channels=[8, 16, 32, 32], out_channels=16, num_outs=5))
    assert isinstance(fpn, SimpleFPN)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r'\[8, 16, 32, 32\]'):
        SimpleFPN(backbone_channel=32, in_channels=[32, 32, 32, 32], out_channels=16, num_outs=5)
    with pytest.raises(ValueError, match='num_outs'):
        _fpn(num_outs=3)
