# The embedded default: SyntheticShapes generated on the fly (no files, no downloads).
_base_ = ['./shapes_loaders.py']

img_size = 64
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions', box_type=None),
    dict(type='RandomFlip', prob=0.5),
    dict(type='SwapLeftRight'),
    dict(type='SampleRegions', score_thr=0.3),
    dict(type='BuildTaskSequences', tasks=('cap', 'aref', 'gcap')),
    dict(type='PackLocCaInputs'),
]
train_dataloader = dict(
    dataset=dict(type='SyntheticShapes', split='pretrain', num_samples=100_000,
                 img_size=img_size, pipeline=train_pipeline),
)

# Validation while pretraining: does the model caption, and does it localise? Held-out
# captions (CIDEr) and held-out referring expressions (the model's own ARef, Acc@0.5).
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions', box_type=None),
    dict(type='PackLocCaInputs'),
]
val_captions = dict(type='SyntheticShapes', split='pretrain', num_samples=100, seed=54321,
                    img_size=img_size, test_mode=True, pipeline=val_pipeline)
val_regions = dict(type='SyntheticShapes', split='ref_val', num_samples=100, img_size=img_size,
                   test_mode=True, pipeline=val_pipeline)
val_dataloader = dict(dataset=dict(type='ConcatDataset', datasets=[val_captions, val_regions]))
val_evaluator = [dict(type='CaptionMetric'), dict(type='RefCOCOMetric', prefix='aref')]
val_cfg = dict(type='ValLoop')

# Evaluation while pretraining, as big_vision's CapPa config has it (its `evals`); the
# pretraining configs add these datasets and metrics to their validation
# (docs/en/user_guides/evaluation.md, "Evaluation while pretraining"):
# - a few-shot linear probe: pooled encoder features of 240 labelled ShapesClassification
#   images (cls_train, at least 11 of each of the 12 classes) fit a closed-form ridge
#   regression with 1, 5 and 10 per class; scored on 120 held-out cls_val images;
# - zero-shot classification: the 12 class names, phrased as the pretraining captions are
#   ("a picture of a red circle."), scored as the caption of each of the 120 cls_val images
#   by the decoder's likelihood, the most likely one predicted;
# - the perplexity of the held-out captions of val_captions (teacher-forced).
_cls_eval = dict(type='ShapesClassification', img_size=img_size, test_mode=True,
                 pipeline=val_pipeline)
val_fewshot_support = dict(_cls_eval, split='cls_train', num_samples=240, eval_task='features')
val_fewshot_heldout = dict(_cls_eval, split='cls_val', num_samples=120, eval_task='features')
val_zeroshot = dict(_cls_eval, split='cls_val', num_samples=120, eval_task='class_scores',
                    prompt_template='a picture of a {}.')
val_perplexity = dict(val_captions, eval_task='caption_nll')
pretrain_evals = [val_fewshot_support, val_fewshot_heldout, val_zeroshot, val_perplexity]
pretrain_eval_metrics = [
    dict(type='FewShotProbeMetric', shots=(1, 5, 10), support_split='cls_train'),
    dict(type='ZeroShotMetric'),
    dict(type='CaptionPerplexityMetric'),
]
