# COCO captions + instances mixed with Visual Genome regions, 2:1.
_base_ = ['./coco_caption.py']

_coco = {{_base_.train_dataloader.dataset}}
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='WeightedConcatDataset',
        ratios=[2, 1],
        datasets=[
            _coco,
            dict(type='VisualGenomeDataset', data_root='data/vg/',
                 ann_file='region_descriptions.json', image_data_file='image_data.json',
                 data_prefix=dict(img_path=''), pipeline={{_base_.region_pipeline}}),
        ],
    ))
