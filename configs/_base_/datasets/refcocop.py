# RefCOCO+ (UNC splits: val, testA, testB).
_base_ = './refcoco.py'

data_root = 'data/refcocoplus/'
_dataset = dict(type='RefCOCODataset', data_root=data_root, ann_file='instances.json',
                split_file='refs(unc).p', data_prefix=dict(img_path='train2014/'))
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(datasets=[
    dict(**_dataset, split=s, pipeline={{_base_.test_pipeline}}, test_mode=True)
    for s in ['val', 'testA', 'testB']
]))
