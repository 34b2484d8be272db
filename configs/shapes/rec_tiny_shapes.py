# The RefCOCO protocol on the synthetic referring split: a pretrained encoder
# (`model.backbone.init_cfg`; with the tools also --cfg-options
# encoder_from=work_dirs/locca_vit-tiny_1xb48-600it_shapes/iter_600.pth)
# is frozen and a freshly initialised decoder learns ARef; Acc@0.5 on ref_test.
_base_ = [
    '../_base_/models/locca_tiny_shapes.py',
    '../_base_/datasets/shapes_ref.py',
    '../_base_/schedules/shapes_adamw.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        frozen_stages=4,  # all 4 blocks, the embeddings and the final norm
        # The pretrained encoder: the demo and the tools set it with
        # --cfg-options encoder_from=CKPT (= model.backbone.init_cfg, Pretrained).
        init_cfg=None),
    head=dict(tasks=('aref', ), parallel_ratio=0.0),
    test_cfg=dict(task='ref'),
)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
train_cfg = dict(max_iters=1500)  # the aided decoder converges in ~1,500 steps
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=100_000, max_keep_ckpts=1, save_last=True))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='LocCaVisualizer', vis_backends=vis_backends)
randomness = dict(seed=0)
