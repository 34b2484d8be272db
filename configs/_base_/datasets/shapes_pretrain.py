# The embedded default: SyntheticShapes generated on the fly (no files, no downloads).
img_size = 64
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions', box_type=None),
    dict(type='RandomFlip', prob=0.5),
    dict(type='SwapLeftRight'),
    dict(type='SampleRegions', score_thr=0.3),
    dict(type='BuildTaskSequences', tasks=('cap', 'aref', 'gcap')),
    dict(type='PackLocCaInputs'),
]
train_dataloader = dict(
    batch_size=48,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='SyntheticShapes', split='pretrain', num_samples=100_000,
                 img_size=img_size, pipeline=train_pipeline),
)
