# RefCOCOg (UMD splits: val, test).
_base_ = './refcoco.py'

data_root = 'data/refcocog/'
_dataset = dict(type='RefCOCODataset', data_root=data_root, ann_file='instances.json',
                split_file='refs(umd).p', data_prefix=dict(img_path='train2014/'))
train_dataloader = dict(dataset=dict(data_root=data_root, split_file='refs(umd).p'))
val_dataloader = dict(dataset=dict(data_root=data_root, split_file='refs(umd).p'))
test_dataloader = dict(dataset=dict(datasets=[
    dict(**_dataset, split=s, pipeline={{_base_.test_pipeline}}, test_mode=True)
    for s in ['val', 'test']
]))
