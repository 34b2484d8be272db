# Visual Genome region descriptions (ARef and GCap; VG has no captions).
_base_ = './wds_shards.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='VisualGenomeDataset',
        data_root='data/vg/',
        ann_file='region_descriptions.json',
        image_data_file='image_data.json',
        data_prefix=dict(img_path=''),
        pipeline={{_base_.region_pipeline}},
    ))
