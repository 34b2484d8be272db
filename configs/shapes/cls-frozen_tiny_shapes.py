# Classification as text on the embedded data (the ImageNet-style holistic transfer): a
# pretrained tiny encoder is frozen and a freshly initialised decoder learns to name the
# large object of a ShapesClassification image ("red circle": 12 classes); accuracy of the
# said name against the true one on 1000 test images.
#   python tools/train.py configs/shapes/cls-frozen_tiny_shapes.py \
#       --cfg-options encoder_from=work_dirs/locca_vit-tiny_1xb48-600it_shapes/iter_600.pth
#   python tools/eval_suite.py CKPT --suite cls     (with the other protocols, one table)
_base_ = [
    '../_base_/models/locca_tiny_shapes.py',
    '../_base_/datasets/shapes_cls.py',
    '../_base_/schedules/shapes_adamw.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        frozen_stages=4,  # all 4 blocks, the embeddings and the final norm
        # The pretrained encoder: --cfg-options encoder_from=CKPT
        # (= model.backbone.init_cfg, Pretrained).
        init_cfg=None),
    head=dict(tasks=('cap', ), parallel_ratio=0.0),
    # A class name is 1-2 words: a short generation.
    test_cfg=dict(task='cap', max_new_tokens=8),
)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
train_cfg = dict(max_iters=600)
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=100_000, max_keep_ckpts=1, save_last=True))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='LocCaVisualizer', vis_backends=vis_backends)
randomness = dict(seed=0)
