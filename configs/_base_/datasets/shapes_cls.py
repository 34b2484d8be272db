# Classification as text on SyntheticShapes (ShapesClassification): one large object and
# small distractors of other categories; the class is the large object's colour and kind
# (4 colours x 3 kinds = 12 classes), said as its name ("red circle"). The ImageNet-style
# holistic transfer on the embedded data; cls_train / cls_val / cls_test are seeded apart
# from each other and from every pretraining and referring split.
_base_ = ['./shapes_loaders.py']

img_size = 64
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions', box_type=None),
    dict(type='RandomFlip', prob=0.5),
    dict(type='BuildTaskSequences', tasks=('cap', ), caption='first'),
    dict(type='PackLocCaInputs'),
]
test_pipeline = [dict(type='LoadImage'), dict(type='PackLocCaInputs')]
_shapes = dict(type='ShapesClassification', img_size=img_size, label='category')
train_dataloader = dict(
    dataset=dict(**_shapes, split='cls_train', num_samples=50_000, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(**_shapes, split='cls_val', num_samples=200, pipeline=test_pipeline,
                 test_mode=True))
test_dataloader = dict(
    _base_.val_dataloader,
    dataset=dict(**_shapes, split='cls_test', num_samples=1000, pipeline=test_pipeline,
                 test_mode=True))
val_evaluator = dict(type='TextClassificationMetric')
test_evaluator = val_evaluator
