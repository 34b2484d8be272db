# COCO captions for caption transfer: train2017 captions (Cap rows) and val2017
# images as 'cap' predictions scored against their 5 references (CIDEr, BLEU).
_base_ = ['./train_loader.py', './eval_loader.py']

data_root = 'data/coco/'
img_size = 224
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='BuildTaskSequences', tasks=('cap', )),
    dict(type='PackLocCaInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='PackLocCaInputs'),
]
train_dataloader = dict(
    dataset=dict(type='CocoCaptionDataset', data_root=data_root,
                 ann_file='annotations/captions_train2017.json',
                 data_prefix=dict(img_path='train2017/'), pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(type='CocoCaptionDataset', data_root=data_root,
                 ann_file='annotations/captions_val2017.json',
                 data_prefix=dict(img_path='val2017/'), pipeline=test_pipeline, test_mode=True))
test_dataloader = dict(_base_.val_dataloader, dataset=val_dataloader['dataset'])
val_evaluator = dict(type='CaptionMetric')
test_evaluator = val_evaluator
