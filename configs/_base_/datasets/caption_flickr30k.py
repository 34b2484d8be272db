# Flickr30k captioning on the Karpathy split (HolisticCaption): train on its 29k train
# images, select on val, report CIDEr (CaptionMetric, caption/CIDEr) on its 1k test images.
# Files read by mmpretrain.Flickr30kCaption (mmpretrain 1.2) from data/flickr30k:
#   data/flickr30k/flickr30k-images/*.jpg, data/flickr30k/dataset_flickr30k.json (Karpathy's)
_base_ = ['./holistic_pipelines.py']

data_root = 'data/flickr30k/'
_reader = dict(type='mmpretrain.Flickr30kCaption', data_root=data_root,
               data_prefix='flickr30k-images', ann_file='dataset_flickr30k.json')
train_dataloader = dict(dataset=dict(
    type='HolisticCaption', reader=dict(_reader, split='train'), pipeline=_base_.train_pipeline))
val_dataloader = dict(dataset=dict(
    type='HolisticCaption', reader=dict(_reader, split='val'), pipeline=_base_.test_pipeline,
    test_mode=True))
test_dataloader = dict(_base_.val_dataloader, dataset=dict(
    type='HolisticCaption', reader=dict(_reader, split='test'), pipeline=_base_.test_pipeline,
    test_mode=True))
val_evaluator = dict(type='CaptionMetric')
test_evaluator = val_evaluator
