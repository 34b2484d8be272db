# RefCOCO + RefCOCO+ + RefCOCOg (the paper's mixture): one training set, the three train splits
# concatenated, each without the images of any evaluated split of the three (they share COCO
# train2014 images: a RefCOCO train image may be a RefCOCOg test image; the count left out is
# logged). Evaluation: val pooled over the three releases (the best checkpoint), and the test
# loader's eight splits, each named after its release (refcoco/val, refcocop/val,
# refcocog/test, ...). Each release keeps its own directory:
#   data/refcoco/{instances.json, refs(unc).p, train2014/}
#   data/refcocoplus/{instances.json, refs(unc).p, train2014/}
#   data/refcocog/{instances.json, refs(umd).p, train2014/}
_base_ = './refcoco.py'

# name: (data_root, refs file, evaluated splits)
releases = dict(
    refcoco=('data/refcoco/', 'refs(unc).p', ['val', 'testA', 'testB']),
    refcocop=('data/refcocoplus/', 'refs(unc).p', ['val', 'testA', 'testB']),
    refcocog=('data/refcocog/', 'refs(umd).p', ['val', 'test']),
)
heldout = [dict(data_root=root, split_file=refs, splits=splits)
           for root, refs, splits in releases.values()]
_release = dict(type='RefCOCODataset', ann_file='instances.json',
                data_prefix=dict(img_path='train2014/'))

train_dataloader = dict(dataset=dict(
    _delete_=True,
    type='ConcatDataset',
    datasets=[
        dict(**_release, data_root=root, split_file=refs, split='train', dataset_name=name,
             exclude_images_of=heldout, pipeline={{_base_.train_pipeline}})
        for name, (root, refs, _) in releases.items()
    ]))
val_dataloader = dict(dataset=dict(
    _delete_=True,
    type='ConcatDataset',
    datasets=[
        dict(**_release, data_root=root, split_file=refs, split='val', dataset_name=name,
             pipeline={{_base_.test_pipeline}}, test_mode=True)
        for name, (root, refs, _) in releases.items()
    ]))
test_dataloader = dict(dataset=dict(
    _delete_=True,
    type='ConcatDataset',
    datasets=[
        dict(**_release, data_root=root, split_file=refs, split=split, dataset_name=name,
             pipeline={{_base_.test_pipeline}}, test_mode=True)
        for name, (root, refs, splits) in releases.items() for split in splits
    ]))
