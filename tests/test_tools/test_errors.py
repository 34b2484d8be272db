"""Bad input to the tools: one clear line on stderr, non-zero exit, work dir untouched."""
import os

import pytest

from tests.conftest import TOY_CONFIG, run_tool


def _assert_one_line_error(proc, *fragments):
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1, proc.stderr[-2000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.mark.slow
def test_missing_config(tmp_path):
    work_dir = tmp_path / 'wd'
    proc = run_tool(['train.py', str(tmp_path / 'nope.py'), '--work-dir', str(work_dir)])
    _assert_one_line_error(proc, 'config file not found', 'nope.py')
    assert not work_dir.exists()


@pytest.mark.slow
def test_unknown_type_leaves_no_work_dir(tmp_path):
    cfg = tmp_path / 'bad.py'
    cfg.write_text(f"_base_ = {TOY_CONFIG!r}\nmodel = dict(type='NoSuchModel', _delete_=True)\n")
    work_dir = tmp_path / 'wd'
    proc = run_tool(['train.py', str(cfg), '--work-dir', str(work_dir)])
    _assert_one_line_error(proc, 'NoSuchModel', 'registry')
    assert not work_dir.exists()


@pytest.mark.slow
def test_unknown_dataset_type_keeps_existing_work_dir_as_it_was(tmp_path):
    """A failure found when the dataloader is built (inside runner.train())."""
    cfg = tmp_path / 'bad_data.py'
    cfg.write_text(f"_base_ = {TOY_CONFIG!r}\n"
                   "train_dataloader = dict(dataset=dict(type='NoSuchDataset', _delete_=True))\n")
    work_dir = tmp_path / 'wd'
    work_dir.mkdir()
    (work_dir / 'notes.txt').write_text('mine')
    proc = run_tool(['train.py', str(cfg), '--work-dir', str(work_dir)])
    _assert_one_line_error(proc, 'NoSuchDataset')
    assert os.listdir(work_dir) == ['notes.txt']


@pytest.mark.slow
def test_resume_missing_checkpoint(tmp_path):
    work_dir = tmp_path / 'wd'
    proc = run_tool(['train.py', TOY_CONFIG, '--work-dir', str(work_dir),
                     '--resume', str(tmp_path / 'missing.pth')])
    _assert_one_line_error(proc, 'missing.pth', 'not found')
    assert not work_dir.exists()


@pytest.mark.slow
def test_corrupt_load_from_is_named(tmp_path):
    bad = tmp_path / 'broken.pth'
    bad.write_bytes(b'PK\x03\x04 definitely not a checkpoint')
    work_dir = tmp_path / 'wd'
    proc = run_tool(['train.py', TOY_CONFIG, '--work-dir', str(work_dir), '--cfg-options',
                     f'load_from={bad}'])
    _assert_one_line_error(proc, 'broken.pth')
    assert not work_dir.exists()


@pytest.mark.slow
def test_test_tool_missing_checkpoint(tmp_path):
    proc = run_tool(['test.py', TOY_CONFIG, str(tmp_path / 'none.pth'), '--work-dir',
                     str(tmp_path / 'wd')])
    _assert_one_line_error(proc, 'none.pth')
    assert not (tmp_path / 'wd').exists()
