# RefCOCO (UNC splits): train as ARef rows; evaluate each referring expression
# as a 'ref' prediction on val, testA and testB (the split name travels with each
# sample, so the metric reports every split). 32 expressions a GPU (train_loader.py).
_base_ = ['./train_loader.py', './eval_loader.py']

data_root = 'data/refcoco/'
refs_file = 'refs(unc).p'
test_splits = ['val', 'testA', 'testB']
img_size = 224

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions', box_type=None),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='SampleRegions', score_thr=0.0, tasks=('aref', )),
    dict(type='BuildTaskSequences', tasks=('aref', )),
    dict(type='PackLocCaInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions', box_type=None),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='PackLocCaInputs'),
]
_dataset = dict(type='RefCOCODataset', data_root=data_root, ann_file='instances.json',
                split_file=refs_file, data_prefix=dict(img_path='train2014/'))
train_dataloader = dict(dataset=dict(**_dataset, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(**_dataset, split='val', pipeline=test_pipeline, test_mode=True))
test_dataloader = dict(
    _base_.val_dataloader,
    dataset=dict(type='ConcatDataset', datasets=[
        dict(**_dataset, split=s, pipeline=test_pipeline, test_mode=True) for s in test_splits
    ]),
)
val_evaluator = dict(type='RefCOCOMetric')
test_evaluator = val_evaluator
