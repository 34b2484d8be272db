# COCO captioning on the Karpathy split (HolisticCaption): train on its 113k train images,
# select on its 5k val images, report CIDEr (CaptionMetric, caption/CIDEr) on its 5k test
# images. Files read by mmpretrain.COCOCaption (mmpretrain 1.2) from data/coco, the
# Karpathy-split json of LAVIS/BLIP (a list of {"image": "val2014/COCO_val2014_....jpg",
# "caption": str | [str]}):
#   data/coco/train2014/*.jpg, val2014/*.jpg,
#   data/coco/annotations/coco_karpathy_{train,val,test}.json
_base_ = ['./holistic_pipelines.py']

data_root = 'data/coco/'
_reader = dict(type='mmpretrain.COCOCaption', data_root=data_root)
train_dataloader = dict(dataset=dict(
    type='HolisticCaption', reader=dict(_reader, ann_file='annotations/coco_karpathy_train.json'),
    pipeline=_base_.train_pipeline))
val_dataloader = dict(dataset=dict(
    type='HolisticCaption', reader=dict(_reader, ann_file='annotations/coco_karpathy_val.json'),
    pipeline=_base_.test_pipeline, test_mode=True))
test_dataloader = dict(_base_.val_dataloader, dataset=dict(
    type='HolisticCaption', reader=dict(_reader, ann_file='annotations/coco_karpathy_test.json'),
    pipeline=_base_.test_pipeline, test_mode=True))
val_evaluator = dict(type='CaptionMetric')
test_evaluator = val_evaluator
