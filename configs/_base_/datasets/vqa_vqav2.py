# VQAv2 (HolisticVQA): "Cap: {question} : {answer}" trained on train2014 with every
# annotator's answer (drawn at their frequency), the answer alone carrying the loss; scored
# on val2014 by mmpretrain's VQAAcc (VQA/acc: min(#annotators agreeing / 3, 1), with the
# official answer normalisation). Files read by mmpretrain.COCOVQA from data/coco:
#   data/coco/train2014/COCO_train2014_<12-digit id>.jpg, val2014/COCO_val2014_*.jpg,
#   data/coco/annotations/v2_OpenEnded_mscoco_{train2014,val2014}_questions.json,
#   data/coco/annotations/v2_mscoco_{train2014,val2014}_annotations.json
_base_ = ['./holistic_pipelines.py']

data_root = 'data/coco/'
_reader = dict(type='mmpretrain.COCOVQA', data_root=data_root)
train_dataloader = dict(dataset=dict(
    type='HolisticVQA',
    reader=dict(_reader, data_prefix='train2014',
                question_file='annotations/v2_OpenEnded_mscoco_train2014_questions.json',
                ann_file='annotations/v2_mscoco_train2014_annotations.json'),
    pipeline=_base_.train_pipeline))
val_dataloader = dict(dataset=dict(
    type='HolisticVQA',
    reader=dict(_reader, data_prefix='val2014',
                question_file='annotations/v2_OpenEnded_mscoco_val2014_questions.json',
                ann_file='annotations/v2_mscoco_val2014_annotations.json'),
    pipeline=_base_.test_pipeline, test_mode=True))
test_dataloader = dict(_base_.val_dataloader, dataset=val_dataloader['dataset'])
val_evaluator = dict(type='mmpretrain.VQAAcc')
test_evaluator = val_evaluator
