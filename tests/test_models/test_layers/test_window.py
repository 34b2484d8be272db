"""Window partitioning of a token grid (ViTDet): padding, and the exact inverse."""
import pytest
import torch

from locca_mm.models.layers.window import window_partition, window_unpartition


def test_a_grid_that_is_not_a_multiple_of_the_window_is_zero_padded():
    x = torch.randn(2, 5 * 7, 8)
    windows, padded = window_partition(x, (5, 7), 3)
    assert padded == (6, 9) and windows.shape == (2 * 2 * 3, 9, 8)
    assert torch.equal(window_unpartition(windows, (5, 7), padded, 3), x)
    # The padding is zero tokens: the last window row holds grid row 5 only.
    grid = windows.view(2, 2, 3, 3, 3, 8)  # [B, nh, nw, s, s, D]
    assert torch.equal(grid[:, 1, :, 2], torch.zeros(2, 3, 3, 8))


@pytest.mark.parametrize('grid,size', [((4, 4), 2), ((4, 4), 4), ((6, 3), 3), ((1, 1), 2)])
def test_windows_hold_neighbouring_tokens_and_round_trip(grid, size):
    h, w = grid
    x = torch.arange(h * w, dtype=torch.float32).view(1, h * w, 1)
    windows, padded = window_partition(x, grid, size)
    assert torch.equal(window_unpartition(windows, grid, padded, size), x)
    if h % size == 0 and w % size == 0:
        first = windows[0, :, 0].tolist()  # the top-left window, row-major
        assert first == [r * w + c for r in range(size) for c in range(size)]
