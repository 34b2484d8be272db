# SigLIP 2's first stage on the embedded SyntheticShapes data: SigLIP's sigmoid loss between the
# two towers plus LocCa's Cap / ARef / GCap decoder on the un-pooled tokens, with equal weight,
# for the whole run (no self-distillation): the "SigLIP + LocCa" row of `tools/demo.py
# --recipe siglip2`. Data, steps, schedule and validation are the tiny LocCa's
# (locca/locca_vit-tiny_1xb48-900it_shapes.py); zero-shot classification is scored by the
# towers (the class names as captions, the highest pair logit).
_base_ = [
    '../_base_/models/siglip2_tiny_shapes.py',
    '../_base_/datasets/shapes_pretrain.py',
    '../_base_/schedules/shapes_adamw.py',
    '../_base_/default_runtime.py',
]

test_dataloader = dict(
    _base_.val_dataloader,
    dataset=dict(type='SyntheticShapes', split='pretrain', num_samples=200, seed=12345,
                 img_size=64, test_mode=True,
                 pipeline=[dict(type='LoadImage'), dict(type='PackLocCaInputs')]))
test_evaluator = dict(type='CaptionMetric')
test_cfg = dict(type='TestLoop')

train_cfg = dict(max_iters=900, val_interval=200)
val_dataloader = dict(dataset=dict(
    datasets=[_base_.val_captions, _base_.val_regions, *_base_.pretrain_evals],
    ignore_keys=['classes']))
val_evaluator = [*_base_.val_evaluator, *_base_.pretrain_eval_metrics]
# The encoder at a fifth of the decoder's rate, as the tiny LocCa (docs/en/differences_from_paper.md).
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.2)}))
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=100_000, max_keep_ckpts=1, save_last=True))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='LocCaVisualizer', vis_backends=vis_backends)
randomness = dict(seed=0)

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
