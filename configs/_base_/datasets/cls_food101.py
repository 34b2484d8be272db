# Food-101 classification as text (HolisticClassification): the decoder writes the class
# name; scored by TextClassificationMetric (exact match after normalisation, cls/accuracy).
# Files read by mmpretrain.Food101 (mmpretrain 1.2) from data/food-101:
#   data/food-101/images/<class>/<id>.jpg, meta/train.txt, meta/test.txt ('<class>/<id>').
# Class names: mmpretrain's FOOD101_CATEGORIES with '_' read as spaces ('apple pie').
_base_ = ['./holistic_pipelines.py']

data_root = 'data/food-101/'
_reader = dict(type='mmpretrain.Food101', data_root=data_root)
_dataset = dict(type='HolisticClassification')
train_dataloader = dict(dataset=dict(
    **_dataset, reader=dict(_reader, split='train'), pipeline=_base_.train_pipeline))
val_dataloader = dict(dataset=dict(
    **_dataset, reader=dict(_reader, split='test'), pipeline=_base_.test_pipeline,
    test_mode=True))
test_dataloader = dict(_base_.val_dataloader, dataset=val_dataloader['dataset'])
val_evaluator = dict(type='TextClassificationMetric')
test_evaluator = val_evaluator
