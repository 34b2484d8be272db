"""Checkpoint I/O (compat/checkpoint_io.py): a full-length checkpoint with one flipped byte.

A truncated file is covered in test_checkpoint_io.py; here the file keeps its length and
its zip directory, and one byte inside a tensor's data is flipped (bit rot, a bad disk or
copy). Each zip member carries a CRC32 of its data: ``is_complete_checkpoint`` (and so
``find_latest_complete_checkpoint``, what ``--resume`` uses) checks them with
``ZipFile.testzip``; ``torch.load`` does not, so ``safe_torch_load`` checks them first.
"""
import struct
import zipfile

import pytest
import torch

from locca_mm.compat.checkpoint_io import (
    CheckpointLoadError,
    atomic_torch_save,
    atomic_write_text,
    find_latest_complete_checkpoint,
    is_complete_checkpoint,
    safe_torch_load,
)

_LOCAL_HEADER = struct.Struct('<4s22xHH')  # signature, ..., file name length, extra length


def _checkpoint(iteration: int) -> dict:
    torch.manual_seed(iteration)
    return dict(meta=dict(iter=iteration), state_dict={'w': torch.randn(64, 64)})


def _tensor_member(path) -> zipfile.ZipInfo:
    """The zip member holding the tensor data (``archive/data/0``)."""
    with zipfile.ZipFile(path) as zf:
        members = [i for i in zf.infolist() if i.filename.split('/')[-2:-1] == ['data']]
    assert len(members) == 1 and members[0].file_size == 64 * 64 * 4, members
    assert members[0].compress_type == zipfile.ZIP_STORED  # torch stores, it does not deflate
    return members[0]


def _flip_tensor_byte(path) -> int:
    """Flip (xor 0xff) the middle byte of the tensor's data in the file; its offset."""
    member = _tensor_member(path)
    data = bytearray(path.read_bytes())
    signature, name_len, extra_len = _LOCAL_HEADER.unpack_from(data, member.header_offset)
    assert signature == b'PK\x03\x04'
    offset = member.header_offset + _LOCAL_HEADER.size + name_len + extra_len
    offset += member.file_size // 2
    size = len(data)
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    assert path.stat().st_size == size  # full length: only the content changed
    return offset


def test_flipped_byte_lands_in_the_tensor_data(tmp_path):
    """The corruption is real and silent to torch: one element changes, the rest load."""
    path = tmp_path / 'iter_4.pth'
    atomic_torch_save(_checkpoint(4), str(path))
    assert is_complete_checkpoint(str(path))
    _flip_tensor_byte(path)
    loaded = torch.load(path, weights_only=True)['state_dict']['w']
    changed = (loaded != _checkpoint(4)['state_dict']['w']).sum().item()
    assert changed == 1
    assert not is_complete_checkpoint(str(path))  # the member's CRC32 no longer matches


def test_flipped_tensor_byte_is_refused_naming_the_file(tmp_path):
    path = tmp_path / 'iter_4.pth'
    atomic_torch_save(_checkpoint(4), str(path))
    _flip_tensor_byte(path)
    with pytest.raises(CheckpointLoadError, match='iter_4.pth.*CRC32'):
        safe_torch_load(str(path))


def test_resume_skips_a_checkpoint_with_a_flipped_byte(tmp_path):
    work_dir = tmp_path / 'work'
    for iteration in (2, 4):
        atomic_torch_save(_checkpoint(iteration), str(work_dir / f'iter_{iteration}.pth'))
    newest = work_dir / 'iter_4.pth'
    atomic_write_text(str(work_dir / 'last_checkpoint'), str(newest))
    assert find_latest_complete_checkpoint(str(work_dir)) == str(newest)
    _flip_tensor_byte(newest)
    found = find_latest_complete_checkpoint(str(work_dir))
    assert found == str(work_dir / 'iter_2.pth')
    assert safe_torch_load(found)['meta'] == dict(iter=2)
