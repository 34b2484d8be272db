# Classification as text on the embedded data (the ImageNet-style holistic transfer): a
# pretrained tiny encoder is frozen and a freshly initialised decoder learns to name the
# large object of a ShapesClassification image ("red circle": 12 classes); accuracy of the
# said name against the true one on 1000 test images.
#   python tools/train.py configs/shapes/cls-frozen_tiny_shapes.py \
#       --cfg-options encoder_from=work_dirs/locca_vit-tiny_1xb48-900it_shapes/iter_900.pth
#   python tools/eval_suite.py CKPT --suite cls     (with the other protocols, one table)
_base_ = ['../_base_/frozen_tiny_shapes.py', '../_base_/datasets/shapes_cls.py']

model = dict(
    head=dict(tasks=('cap', )),
    # A class name is 1-2 words: a short generation.
    test_cfg=dict(task='cap', max_new_tokens=8))
train_cfg = dict(max_iters=600)

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
