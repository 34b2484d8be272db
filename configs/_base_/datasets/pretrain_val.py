# Validation while pretraining on real data: is the model learning to caption, and to
# localise? 500 COCO val2017 images (caption CIDEr / BLEU against their 5 references) and
# 500 RefCOCO val expressions (the model's own ARef: "ARef: {text} :" -> box, Acc@0.5).
# Both are held out from the pretraining data; neither is trained on here.
_base_ = ['./eval_loader.py']

img_size = 224
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions', box_type=None),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='PackLocCaInputs'),
]
val_captions = dict(type='CocoCaptionDataset', data_root='data/coco/',
                    ann_file='annotations/captions_val2017.json',
                    data_prefix=dict(img_path='val2017/'), indices=500, test_mode=True,
                    pipeline=val_pipeline)
val_regions = dict(type='RefCOCODataset', data_root='data/refcoco/', ann_file='instances.json',
                   split_file='refs(unc).p', split='val', data_prefix=dict(img_path='train2014/'),
                   indices=500, test_mode=True, pipeline=val_pipeline)
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    dataset=dict(type='ConcatDataset', datasets=[val_captions, val_regions]),
)
val_evaluator = [dict(type='CaptionMetric'), dict(type='RefCOCOMetric', prefix='aref')]
val_cfg = dict(type='ValLoop')
