# Oxford-IIIT Pet classification as text (HolisticClassification): the decoder writes the class
# name; scored by TextClassificationMetric (exact match after normalisation, cls/accuracy).
# Files read by mmpretrain.OxfordIIITPet (mmpretrain 1.2) from data/oxford-iiit-pet:
#   data/oxford-iiit-pet/images/<Breed>_<n>.jpg, annotations/trainval.txt, annotations/test.txt.
# Class names: mmpretrain's OxfordIIITPet_CATEGORIES with '_' read as spaces ('american bulldog').
_base_ = ['./holistic_pipelines.py']

data_root = 'data/oxford-iiit-pet/'
_reader = dict(type='mmpretrain.OxfordIIITPet', data_root=data_root)
_dataset = dict(type='HolisticClassification')
train_dataloader = dict(dataset=dict(
    **_dataset, reader=dict(_reader, split='trainval'), pipeline=_base_.train_pipeline))
val_dataloader = dict(dataset=dict(
    **_dataset, reader=dict(_reader, split='test'), pipeline=_base_.test_pipeline,
    test_mode=True))
test_dataloader = dict(_base_.val_dataloader, dataset=val_dataloader['dataset'])
val_evaluator = dict(type='TextClassificationMetric')
test_evaluator = val_evaluator
