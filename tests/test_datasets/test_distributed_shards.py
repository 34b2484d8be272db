"""Two-process DDP training over tar shards: every sample exactly once per epoch."""
import json

import pytest

from tests.conftest import ROOT, free_port, run_tool
from tests.test_datasets.utils import DATA
from tests.test_models.utils import TINY_TOKENIZER, tiny_model_cfg


def _config(tmp_path, shards: str) -> str:
    model = tiny_model_cfg()
    pipeline = [
        dict(type='LoadImage'), dict(type='LoadRegions'),
        dict(type='mmdet.Resize', scale=(32, 32), keep_ratio=False),
        dict(type='SampleRegions'), dict(type='BuildTaskSequences'), dict(type='PackLocCaInputs'),
    ]
    cfg = f"""
_base_ = ['{ROOT}/configs/_base_/default_runtime.py']
custom_imports = dict(imports=['locca_mm.testing'], allow_failed_imports=False)
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
    import shutil
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
    from locca_mm.utils.checkpoint_io import safe_torch_load
    meta = safe_torch_load(str(work_dir / 'epoch_2.pth'))['meta']
    assert meta['data_stats']['skipped_invalid'] == 0
