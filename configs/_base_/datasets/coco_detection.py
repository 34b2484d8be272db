# COCO 2017 detection by the decoder: every object of a train2017 image in one GCap sequence
# (BuildDetectionSequence: the objects in a random order each time, at most `max_boxes`);
# val2017 images as 'detect_seq' predictions, scored as COCO box mAP by
# GroundedCaptionDetMetric (mmdet's CocoMetric on the texts mapped to the categories).
# Data: data/coco/annotations/instances_{train,val}2017.json, data/coco/{train,val}2017/*.jpg
_base_ = ['./train_loader.py', './eval_loader.py']
# (after _base_: mmengine reads a config that starts with an import as a lazy-import one)
from mmdet.datasets import CocoDataset  # noqa: E402

#: The 80 COCO category names, in category-id order (the texts a decode may write).
coco_classes = CocoDataset.METAINFO['classes']
del CocoDataset
data_root = 'data/coco/'
img_size = 224
max_boxes = 25  # the paper's COCO detection limit
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions', box_type=None),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),  # category names have no left or right
    dict(type='BuildDetectionSequence', max_boxes=max_boxes),
    dict(type='PackLocCaInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='PackLocCaInputs'),
]
train_dataloader = dict(
    dataset=dict(type='CocoCaptionDataset', data_root=data_root,
                 ann_file='annotations/instances_train2017.json',  # objects only, no captions
                 data_prefix=dict(img_path='train2017/'), pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(type='CocoCaptionDataset', data_root=data_root,
                 ann_file='annotations/instances_val2017.json',
                 data_prefix=dict(img_path='val2017/'), eval_task='detect_seq', test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = dict(_base_.val_dataloader, dataset=val_dataloader['dataset'])
val_evaluator = dict(type='GroundedCaptionDetMetric',
                     ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
