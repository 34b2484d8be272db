# Visual Genome region descriptions (ARef and GCap; VG has no captions).
_base_ = './wds_shards.py'

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions'),
    dict(type='mmdet.Resize', scale=(224, 224), keep_ratio=False),
    dict(type='SampleRegions', score_thr=0.3),
    dict(type='BuildTaskSequences', tasks=('aref', 'gcap')),
    dict(type='PackLocCaInputs'),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='VisualGenomeDataset',
        data_root='data/vg/',
        ann_file='region_descriptions.json',
        image_data_file='image_data.json',
        data_prefix=dict(img_path=''),
        pipeline=train_pipeline,
    ))
