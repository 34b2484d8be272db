# COCO 2017 captions joined with the instances of the same images: Cap from the
# captions, ARef / GCap from the objects (category names as region texts).
_base_ = './wds_shards.py'

data_root = 'data/coco/'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CocoCaptionDataset',
        data_root=data_root,
        ann_file='annotations/captions_train2017.json',
        instances_file='annotations/instances_train2017.json',
        data_prefix=dict(img_path='train2017/'),
        pipeline={{_base_.train_pipeline}},
    ))
