# LocCa, tiny, pretrained on the embedded SyntheticShapes data (what `make demo` trains).
_base_ = [
    '../_base_/models/locca_tiny_shapes.py',
    '../_base_/datasets/shapes_pretrain.py',
    '../_base_/schedules/shapes_adamw.py',
    '../_base_/default_runtime.py',
]

# Captions of held-out images, scored with CIDEr / BLEU (tools/test.py).
test_dataloader = dict(
    _base_.val_dataloader,
    dataset=dict(type='SyntheticShapes', split='pretrain', num_samples=200, seed=12345,
                 img_size=64, test_mode=True,
                 pipeline=[dict(type='LoadImage'), dict(type='PackLocCaInputs')]))
test_evaluator = dict(type='CaptionMetric')
test_cfg = dict(type='TestLoop')

# 900 steps of 48 images (_base_/datasets/shapes_loaders.py). Validation every 200 steps
# (see the dataset base): held-out captions (CIDEr) and referring expressions (own ARef), and
# CapPa's pretraining evals: a few-shot linear probe, zero-shot classification by caption
# scoring and the perplexity of the held-out captions (fewshot/10shot, zeroshot/accuracy,
# caption/perplexity; 1-2% of the training time: docs/en/user_guides/evaluation.md).
# The checkpoint with the best own-ARef accuracy is kept beside the last one.
train_cfg = dict(max_iters=900, val_interval=200)
# (The classification sets' metainfo names their classes, the others' does not.)
val_dataloader = dict(dataset=dict(
    datasets=[_base_.val_captions, _base_.val_regions, *_base_.pretrain_evals],
    ignore_keys=['classes']))
val_evaluator = [*_base_.val_evaluator, *_base_.pretrain_eval_metrics]
# The encoder learns at a fifth of the decoder's rate (docs/en/differences_from_paper.md:
# at batch 48 the full rate washes position out of the encoder's tokens within ~100 steps,
# before the decoder has learnt to read it; the paper trains both at one rate, at batch 8192).
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.2)}))
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=100_000, max_keep_ckpts=1, save_last=True,
                                     save_best='aref/Acc@0.5', rule='greater'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='LocCaVisualizer', vis_backends=vis_backends)
randomness = dict(seed=0)

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
