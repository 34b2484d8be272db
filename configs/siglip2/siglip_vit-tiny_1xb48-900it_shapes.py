# SigLIP alone on the embedded SyntheticShapes data: the two towers and the sigmoid loss, no
# decoder (the "SigLIP" row of `tools/demo.py --recipe siglip2`). Same encoder, data, steps and
# schedule as the SigLIP 2 rows; validated by the pretraining evals only (few-shot probe,
# zero-shot classification by the towers): it has no decoder to caption or localise with.
_base_ = './siglip-locca_vit-tiny_1xb48-900it_shapes.py'

model = dict(head=None)
val_dataloader = dict(dataset=dict(datasets=_base_.pretrain_evals[:3]))
val_evaluator = _base_.pretrain_eval_metrics[:2]
test_dataloader = None
test_evaluator = None
test_cfg = None
default_hooks = dict(checkpoint=dict(save_best=None))  # no own ARef to keep the best of
