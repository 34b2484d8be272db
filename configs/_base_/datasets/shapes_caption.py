# Captioning of SyntheticShapes images that pretraining never sees: the COCO-captioning
# protocol on the embedded data. The images are the pretraining split's (same generator,
# same objects), drawn from seeds no pretraining run uses (pretraining: the run's seed 0, 1,
# ...; its validation 54321, its test 12345); the captions are the descriptive style
# (every object named, one spatial relation), a caption distribution the alt-text
# pretraining did not train on, as COCO's human captions are not WebLI's alt-texts.
_base_ = ['./shapes_loaders.py']

img_size = 64
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions', box_type=None),
    dict(type='RandomFlip', prob=0.5),
    dict(type='SwapLeftRight'),  # the relation's left/right follow the flip
    dict(type='BuildTaskSequences', tasks=('cap', ), caption='first'),
    dict(type='PackLocCaInputs'),
]
test_pipeline = [dict(type='LoadImage'), dict(type='PackLocCaInputs')]
_shapes = dict(type='SyntheticShapes', split='pretrain', img_size=img_size,
               caption_style='descriptive')
train_dataloader = dict(
    dataset=dict(**_shapes, num_samples=50_000, seed=20_000, pipeline=train_pipeline))
# Evaluation: five reference captions an image (the listing order and the relation vary), as
# COCO has five.
_refs = dict(**_shapes, num_captions=5, pipeline=test_pipeline, test_mode=True)
val_dataloader = dict(dataset=dict(**_refs, num_samples=200, seed=29_001))
test_dataloader = dict(_base_.val_dataloader, dataset=dict(**_refs, num_samples=500, seed=29_002))
val_evaluator = dict(type='CaptionMetric')
test_evaluator = val_evaluator
