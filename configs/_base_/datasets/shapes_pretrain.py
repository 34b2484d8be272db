# The embedded default: SyntheticShapes generated on the fly (no files, no downloads).
_base_ = ['./shapes_loaders.py']

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
    dataset=dict(type='SyntheticShapes', split='pretrain', num_samples=100_000,
                 img_size=img_size, pipeline=train_pipeline),
)

# Validation while pretraining: does the model caption, and does it localise? Held-out
# captions (CIDEr) and held-out referring expressions (the model's own ARef, Acc@0.5).
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions', box_type=None),
    dict(type='PackLocCaInputs'),
]
val_captions = dict(type='SyntheticShapes', split='pretrain', num_samples=100, seed=54321,
                    img_size=img_size, test_mode=True, pipeline=val_pipeline)
val_regions = dict(type='SyntheticShapes', split='ref_val', num_samples=100, img_size=img_size,
                   test_mode=True, pipeline=val_pipeline)
val_dataloader = dict(dataset=dict(type='ConcatDataset', datasets=[val_captions, val_regions]))
val_evaluator = [dict(type='CaptionMetric'), dict(type='RefCOCOMetric', prefix='aref')]
val_cfg = dict(type='ValLoop')
