# GQA (HolisticVQA): "Cap: {question} : {answer}" trained on the balanced train questions;
# scored on test-dev by mmpretrain's GQAAcc (GQA/acc, exact match after the VQA answer
# normalisation, a fraction in [0, 1]). Files read by mmpretrain.GQA from data/gqa (the
# annotation json of LAVIS: a list of {"image", "question", "answer", ...}):
#   data/gqa/images/*.jpg,
#   data/gqa/train_balanced_questions.json, data/gqa/testdev_balanced_questions.json
_base_ = ['./holistic_pipelines.py']

data_root = 'data/gqa/'
_reader = dict(type='mmpretrain.GQA', data_root=data_root, data_prefix='images')
train_dataloader = dict(dataset=dict(
    type='HolisticVQA', reader=dict(_reader, ann_file='train_balanced_questions.json'),
    pipeline=_base_.train_pipeline))
val_dataloader = dict(dataset=dict(
    type='HolisticVQA', reader=dict(_reader, ann_file='testdev_balanced_questions.json'),
    pipeline=_base_.test_pipeline, test_mode=True))
test_dataloader = dict(_base_.val_dataloader, dataset=val_dataloader['dataset'])
val_evaluator = dict(type='mmpretrain.GQAAcc')
test_evaluator = val_evaluator
