# ImageNet-1k classification as text (HolisticClassification): the decoder writes the class
# name; scored by TextClassificationMetric (exact match after normalisation, cls/accuracy).
# Files read by mmpretrain.ImageNet (mmpretrain 1.2) from data/imagenet:
#   data/imagenet/train/*.JPEG (or train/<wnid>/*.JPEG), val/*.JPEG, meta/train.txt,
#   meta/val.txt (lines '<file> <class index>'; the folder layout needs all 1000 folders).
# Class names: CLIP's curated ImageNet names (mmpretrain's IMAGENET_SIMPLE_CATEGORIES;
# two repeated names told apart), locca_mm.datasets.holistic.imagenet_class_names.
_base_ = ['./holistic_pipelines.py']

data_root = 'data/imagenet/'
_reader = dict(type='mmpretrain.ImageNet', data_root=data_root)
_dataset = dict(type='HolisticClassification', class_names='imagenet')
train_dataloader = dict(dataset=dict(
    **_dataset, reader=dict(_reader, split='train'), pipeline=_base_.train_pipeline))
val_dataloader = dict(dataset=dict(
    **_dataset, reader=dict(_reader, split='val'), pipeline=_base_.test_pipeline,
    test_mode=True))
test_dataloader = dict(_base_.val_dataloader, dataset=val_dataloader['dataset'])
val_evaluator = dict(type='TextClassificationMetric')
test_evaluator = val_evaluator
