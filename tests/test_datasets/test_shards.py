"""ShardedTarDataset (datasets/shards.py): members, unsafe names, ranks in DDP."""
import io
import json
import os.path as osp
import shutil
import tarfile

import numpy as np
import pytest

from locca_mm.datasets import InvalidRecordError, JsonlDataset, ShardedTarDataset
from locca_mm.utils import register_all_modules
from tests.conftest import ROOT, free_port, run_tool
from tests.test_datasets.utils import DATA, TOKENIZER, train_pipeline
from tests.test_models.utils import TINY_TOKENIZER, tiny_model_cfg

register_all_modules()


def test_sharded_tar_dataset_reads_every_member(tmp_path):
    shutil.copytree(osp.join(DATA, 'shards'), tmp_path / 'shards')
    ds = ShardedTarDataset(shards=str(tmp_path / 'shards' / 'shard-{000000..000001}.tar'),
                           pipeline=train_pipeline(), tokenizer=TOKENIZER)
    assert len(ds) == 12
    assert (tmp_path / 'shards' / 'shard-000000.tar.idx.json').exists()  # index cached
    jsonl = JsonlDataset(ann_file=osp.join(DATA, 'jsonl', 'pairs.jsonl'),
                         data_prefix=dict(img_path=osp.join(DATA, 'jsonl', 'images')))
    for i in range(12):
        info = ds.get_data_info(i)
        same = jsonl.get_data_info(i % 4)  # shard member i repeats scene i mod 4
        np.testing.assert_allclose(info['regions']['bboxes'], same['regions']['bboxes'])
        assert info['captions'] == same['captions']
    sample = ds[5]['data_samples']
    assert sample.task_sequences
    assert sample.metainfo['img_path'].endswith('shard-000000.tar:0005_sample0001')
    # The cached index gives the same dataset.
    again = ShardedTarDataset(shards=str(tmp_path / 'shards' / '*.tar'))
    assert [again.sample_key(i) for i in range(12)] == [ds.sample_key(i) for i in range(12)]


def test_shard_with_unsafe_member_names(tmp_path):
    path = tmp_path / 'evil.tar'
    with tarfile.open(path, 'w') as tar:
        for name, payload in (('../escape.json', b'{}'), ('/abs/x.jpg', b'x'),
                              ('ok.json', json.dumps({'caption': 'c'}).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        link = tarfile.TarInfo('link.jpg')
        link.type, link.linkname = tarfile.SYMTYPE, '/etc/passwd'
        tar.addfile(link)
    with pytest.raises(InvalidRecordError, match="unsafe path"):
        ShardedTarDataset(shards=str(path))
    ds = ShardedTarDataset(shards=str(path), skip_invalid=True)
    assert len(ds) == 0 and ds.num_invalid == 4  # 2 unsafe, 1 link, 1 sample without image
    assert not (tmp_path.parent / 'escape.json').exists()


def _config(tmp_path, shards: str) -> str:
    model = tiny_model_cfg()
    pipeline = [
        dict(type='LoadImage'), dict(type='LoadRegions'),
        dict(type='mmdet.Resize', scale=(32, 32), keep_ratio=False),
        dict(type='SampleRegions'), dict(type='BuildTaskSequences'), dict(type='PackLocCaInputs'),
    ]
    cfg = f"""
_base_ = ['{ROOT}/configs/_base_/default_runtime.py']
custom_imports = dict(imports=['tests.toy'], allow_failed_imports=False)
model = {model!r}
train_dataloader = dict(
    batch_size=3, num_workers=1, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ShardedTarDataset', shards={shards!r}, pipeline={pipeline!r},
                 tokenizer={TINY_TOKENIZER!r}))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))
custom_hooks = [dict(type='RecordSamplesHook'), dict(type='DataStatsHook', interval=1)]
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1), logger=dict(interval=1))
log_processor = dict(by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(vis_backends=vis_backends)
"""
    path = tmp_path / 'shards_ddp.py'
    path.write_text(cfg)
    return str(path)


@pytest.mark.slow
def test_two_process_ddp_sees_every_shard_sample_once_per_epoch(tmp_path):
    shutil.copytree(f'{DATA}/shards', tmp_path / 'shards')
    cfg = _config(tmp_path, str(tmp_path / 'shards' / 'shard-{000000..000001}.tar'))
    work_dir = tmp_path / 'work'
    proc = run_tool(['dist_train.sh', cfg, '2', '--work-dir', str(work_dir)],
                    PORT=str(free_port()))
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = [json.loads((work_dir / f'samples_rank{r}.json').read_text()) for r in range(2)]
    # 12 samples / (2 ranks x 3 per batch) = 2 iterations per epoch.
    for epoch in range(2):
        batches = [ranks[2 * epoch:2 * epoch + 2] for ranks in seen]
        flat = [i for rank in batches for batch in rank for i in batch]
        assert sorted(flat) == list(range(12)), (epoch, flat)
    # Data statistics were reduced over ranks and saved with the checkpoint.
    from locca_mm.compat.checkpoint_io import safe_torch_load
    meta = safe_torch_load(str(work_dir / 'epoch_2.pth'))['meta']
    assert meta['data_stats']['skipped_invalid'] == 0
