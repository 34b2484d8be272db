"""LocCaViT window attention (ViTDet): global when the window covers the grid, local otherwise."""
import pytest
import torch

from locca_mm.models import LocCaViT

from .utils import ARCH

ONE_BLOCK = dict(ARCH, num_layers=1)


def _pair(window_size, arch=ARCH, img_size=64, **kwargs):
    """A global encoder and a windowed one with the same weights."""
    torch.manual_seed(0)
    ref = LocCaViT(arch=arch, img_size=img_size, patch_size=16, out_type='featmap', **kwargs)
    win = LocCaViT(arch=arch, img_size=img_size, patch_size=16, out_type='featmap',
                   window_size=window_size, **kwargs)
    win.load_state_dict(ref.state_dict())  # the same names: a global checkpoint loads
    return ref.eval(), win.eval()


def test_a_window_covering_the_grid_is_global_attention():
    ref, win = _pair(window_size=4)  # 64 px / 16 = a 4 x 4 grid
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ref(x)[0], win(x)[0], atol=1e-5)


def test_smaller_windows_are_local():
    ref, win = _pair(window_size=2, arch=ONE_BLOCK)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = win(x)[0]
        assert not torch.allclose(ref(x)[0], out, atol=1e-3)
        # Changing the top-left window's pixels leaves the other windows' outputs alone.
        y = x.clone()
        y[:, :, :32, :32] = torch.randn(1, 3, 32, 32)
        changed = (win(y)[0] - out).abs().amax(1)[0]  # [4, 4]
    assert changed[:2, :2].min() > 0
    changed[:2, :2] = 0
    assert changed.max() == 0


def test_a_grid_that_is_not_a_multiple_of_the_window_is_padded():
    # The partitioning itself: tests/test_models/test_layers/test_window.py.
    _, win = _pair(window_size=3, img_size=80)  # a 5 x 5 grid in 3 x 3 windows
    win.train()
    out = win(torch.randn(2, 3, 80, 80))[0]
    assert out.shape == (2, 32, 5, 5)
    out.sum().backward()
    assert all(p.grad is not None for p in win.parameters())


def test_global_blocks_and_bad_arguments():
    model = LocCaViT(arch=ARCH, img_size=64, window_size=2, global_attn_indexes=(1, -1))
    assert [b.window_size for b in model.blocks] == [2, 0, 2, 0]
    assert [b.window_size for b in LocCaViT(arch=ARCH, img_size=64).blocks] == [0] * 4
    with pytest.raises(ValueError, match='with_cls_token'):
        LocCaViT(arch=ARCH, img_size=64, window_size=2, with_cls_token=True)
    with pytest.raises(ValueError, match='window_size'):
        LocCaViT(arch=ARCH, img_size=64, window_size=-1)
