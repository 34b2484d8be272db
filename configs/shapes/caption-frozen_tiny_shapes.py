# The COCO-captioning protocol on the embedded data: a pretrained tiny encoder is frozen and
# a freshly initialised decoder learns to caption held-out SyntheticShapes images
# (descriptive captions); CIDEr on 500 test images with five references each.
#   python tools/train.py configs/shapes/caption-frozen_tiny_shapes.py \
#       --cfg-options encoder_from=work_dirs/locca_vit-tiny_1xb48-900it_shapes/iter_900.pth
#   python tools/eval_suite.py CKPT --suite caption     (with the other protocols, one table)
_base_ = ['../_base_/frozen_tiny_shapes.py', '../_base_/datasets/shapes_caption.py']

model = dict(head=dict(tasks=('cap', )), test_cfg=dict(task='cap'))
train_cfg = dict(max_iters=600)

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
