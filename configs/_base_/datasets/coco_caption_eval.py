# COCO captions for caption transfer: train2017 captions (Cap rows) and val2017
# images as 'cap' predictions scored against their 5 references (CIDEr, BLEU).
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
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CocoCaptionDataset', data_root=data_root,
                 ann_file='annotations/captions_train2017.json',
                 data_prefix=dict(img_path='train2017/'), pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CocoCaptionDataset', data_root=data_root,
                 ann_file='annotations/captions_val2017.json',
                 data_prefix=dict(img_path='val2017/'), pipeline=test_pipeline,
                 test_mode=True),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='CaptionMetric')
test_evaluator = val_evaluator
