# The synthetic referring split (SyntheticShapes ref_train / ref_val / ref_test):
# the RefCOCO protocol on the embedded data.
_base_ = ['./shapes_loaders.py']

img_size = 64
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions', box_type=None),
    dict(type='RandomFlip', prob=0.5),
    dict(type='SwapLeftRight'),
    dict(type='SampleRegions', score_thr=0.0, tasks=('aref', )),
    dict(type='BuildTaskSequences', tasks=('aref', )),
    dict(type='PackLocCaInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions', box_type=None),
    dict(type='PackLocCaInputs'),
]
_shapes = dict(type='SyntheticShapes', img_size=img_size)
train_dataloader = dict(
    dataset=dict(**_shapes, split='ref_train', num_samples=50_000, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(**_shapes, split='ref_val', num_samples=500, pipeline=test_pipeline,
                 test_mode=True))
test_dataloader = dict(
    _base_.val_dataloader,
    dataset=dict(**_shapes, split='ref_test', num_samples=1000, pipeline=test_pipeline,
                 test_mode=True))
val_evaluator = dict(type='RefCOCOMetric')
test_evaluator = val_evaluator
