"""DataStatsHook (engine/hooks/data_stats_hook.py): skipped records and truncated sequences
are counted through training and checkpointed."""
import json
import os.path as osp
import shutil

import pytest

from tests.conftest import ROOT, run_tool
from tests.test_datasets.utils import DATA
from tests.test_models.utils import TINY_TOKENIZER, tiny_model_cfg

GOOD = {'image': '0.jpg', 'caption': 'a red circle', 'width': 64, 'height': 48,
        'regions': [{'bbox': [4, 6, 24, 26], 'text': 'red circle', 'score': 0.9}]}


@pytest.mark.slow
def test_skip_mode_trains_and_counts_exactly(tmp_path):
    shutil.copytree(osp.join(DATA, 'jsonl', 'images'), tmp_path / 'images')
    records = [GOOD] * 8
    records[2] = dict(GOOD, image='missing.jpg')  # found in a data worker
    records[5] = {'image': '0.jpg', 'caption': ''}  # found when the file is read
    records[6] = dict(GOOD, caption='word ' * 40)  # cut to the max length
    (tmp_path / 'data.jsonl').write_text('\n'.join(json.dumps(r) for r in records) + '\n')
    pipeline = [dict(type='LoadImage'), dict(type='LoadRegions'),
                dict(type='mmdet.Resize', scale=(32, 32), keep_ratio=False),
                dict(type='SampleRegions'), dict(type='BuildTaskSequences', caption='first'),
                dict(type='PackLocCaInputs')]
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(f"""
_base_ = ['{ROOT}/configs/_base_/default_runtime.py']
model = {tiny_model_cfg()!r}
train_dataloader = dict(batch_size=7, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False), collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='JsonlDataset', ann_file='{tmp_path}/data.jsonl',
                 data_prefix=dict(img_path='{tmp_path}/images'), pipeline={pipeline!r},
                 tokenizer={TINY_TOKENIZER!r}, skip_invalid=True))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))
custom_hooks = [dict(type='DataStatsHook', interval=1)]
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1))
log_processor = dict(by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(vis_backends=vis_backends)
""")
    proc = run_tool(['train.py', str(cfg), '--work-dir', str(tmp_path / 'work')])
    assert proc.returncode == 0, proc.stderr[-3000:]
    from locca_mm.compat.checkpoint_io import safe_torch_load
    stats = safe_torch_load(str(tmp_path / 'work' / 'epoch_1.pth'))['meta']['data_stats']
    assert stats == {'invalid_annotations': 1, 'skipped_invalid': 1, 'truncated': 1,
                     'dropped_regions': 0}
    assert 'skipped 1 invalid records of' in proc.stdout + proc.stderr
