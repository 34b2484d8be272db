# RESISC45 (NWPU-RESISC45) classification as text (HolisticClassification): the decoder
# writes the class name; scored by TextClassificationMetric (exact match after
# normalisation, cls/accuracy).
# Files read by mmpretrain.CustomDataset (mmpretrain 1.2) from data/resisc45:
#   data/resisc45/train/<class>/*.jpg, data/resisc45/test/<class>/*.jpg (plain class
#   folders; RESISC45 ships no split: put e.g. TorchGeo's resisc45-train/-test lists
#   into these folders, all 45 classes in each).
# Class names: the class folder names with '_' read as spaces ('baseball diamond').
_base_ = ['./holistic_pipelines.py']

data_root = 'data/resisc45/'
_reader = dict(type='mmpretrain.CustomDataset', data_root=data_root)
_dataset = dict(type='HolisticClassification')
train_dataloader = dict(dataset=dict(
    **_dataset, reader=dict(_reader, data_prefix='train'), pipeline=_base_.train_pipeline))
val_dataloader = dict(dataset=dict(
    **_dataset, reader=dict(_reader, data_prefix='test'), pipeline=_base_.test_pipeline,
    test_mode=True))
test_dataloader = dict(_base_.val_dataloader, dataset=val_dataloader['dataset'])
val_evaluator = dict(type='TextClassificationMetric')
test_evaluator = val_evaluator
