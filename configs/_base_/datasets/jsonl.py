# Your own image-text pairs with regions, one JSON object per line:
# {"image": "rel/path.jpg", "caption": "...", "regions": [{"bbox": [x1, y1, x2, y2], "text": "...", "score": 0.87}]}
_base_ = './wds_shards.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='JsonlDataset',
        ann_file='data/pairs/train.jsonl',
        data_prefix=dict(img_path='data/pairs/images'),
        pipeline={{_base_.train_pipeline}},
        skip_invalid=True,
    ))
