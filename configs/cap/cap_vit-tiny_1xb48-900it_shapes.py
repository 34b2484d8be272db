# The Cap baseline of the demo: the same encoder, decoder, data, steps and seed as
# locca/locca_vit-tiny_1xb48-900it_shapes.py, trained on captions only (autoregressive).
_base_ = '../locca/locca_vit-tiny_1xb48-900it_shapes.py'

model = dict(head=dict(tasks=('cap', ), parallel_ratio=0.0))
# A captioner is validated on captions only (CIDEr, and the pretraining evals: few-shot probe,
# zero-shot, perplexity); the best CIDEr is kept.
val_dataloader = dict(dataset=dict(datasets=[_base_.val_captions, *_base_.pretrain_evals],
                                   ignore_keys=['classes']))
val_evaluator = [dict(type='CaptionMetric'), *_base_.pretrain_eval_metrics]
default_hooks = dict(checkpoint=dict(save_best='caption/CIDEr'))
