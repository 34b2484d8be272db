# OCR-VQA (HolisticVQA): "Cap: {question} : {answer}" on book covers (authors, titles,
# genres), trained on split 1 (train), selected on split 2 (val), scored on split 3 (test)
# by mmpretrain's VQAAcc (VQA/acc; one answer per question: exact match after the VQA
# answer normalisation). Files read by mmpretrain.OCRVQA from data/ocr-vqa:
#   data/ocr-vqa/images/<book id>.jpg (the imageURL's extension), data/ocr-vqa/dataset.json
_base_ = ['./holistic_pipelines.py']

data_root = 'data/ocr-vqa/'
_reader = dict(type='mmpretrain.OCRVQA', data_root=data_root, data_prefix='images',
               ann_file='dataset.json')
train_dataloader = dict(dataset=dict(
    type='HolisticVQA', reader=dict(_reader, split='train'), pipeline=_base_.train_pipeline))
val_dataloader = dict(dataset=dict(
    type='HolisticVQA', reader=dict(_reader, split='val'), pipeline=_base_.test_pipeline,
    test_mode=True))
test_dataloader = dict(_base_.val_dataloader, dataset=dict(
    type='HolisticVQA', reader=dict(_reader, split='test'), pipeline=_base_.test_pipeline,
    test_mode=True))
val_evaluator = dict(type='mmpretrain.VQAAcc')
test_evaluator = val_evaluator
