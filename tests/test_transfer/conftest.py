"""A tiny LocCa checkpoint shared by the transfer tests."""
import pytest

from .utils import save_tiny_locca


@pytest.fixture(scope='session')
def locca_checkpoint(tmp_path_factory):
    """(path of a full tiny LocCa checkpoint, its encoder state dict without prefix)."""
    path = tmp_path_factory.mktemp('locca') / 'locca_tiny.pth'
    return str(path), save_tiny_locca(str(path))
