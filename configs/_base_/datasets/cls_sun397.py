# SUN397 classification as text (HolisticClassification): the decoder writes the class
# name; scored by TextClassificationMetric (exact match after normalisation, cls/accuracy).
# Files read by mmpretrain.SUN397 (mmpretrain 1.2) from data/sun397:
#   data/sun397/SUN397/<letter>/<class>[/<sub>]/*.jpg, Partitions/ClassName.txt,
#   Partitions/Training_01.txt, Partitions/Testing_01.txt (the first of the 10 splits).
# Class names: mmpretrain's SUN397_CATEGORIES with '_' read as spaces
# ('apartment building outdoor').
_base_ = ['./holistic_pipelines.py']

data_root = 'data/sun397/'
_reader = dict(type='mmpretrain.SUN397', data_root=data_root)
_dataset = dict(type='HolisticClassification')
train_dataloader = dict(dataset=dict(
    **_dataset, reader=dict(_reader, split='train'), pipeline=_base_.train_pipeline))
val_dataloader = dict(dataset=dict(
    **_dataset, reader=dict(_reader, split='test'), pipeline=_base_.test_pipeline,
    test_mode=True))
test_dataloader = dict(_base_.val_dataloader, dataset=val_dataloader['dataset'])
val_evaluator = dict(type='TextClassificationMetric')
test_evaluator = val_evaluator
