# The frozen-encoder protocol on the embedded data (the paper's transfer protocol at the tiny
# scale): the tiny LocCa model with its encoder frozen and a freshly initialised decoder,
# AdamW (shapes_adamw.py), a validation and a test loop, one checkpoint at the end. The
# protocols under configs/shapes/ add their data base and task. The pretrained encoder:
# --cfg-options encoder_from=CKPT (= model.backbone.init_cfg, Pretrained).
_base_ = [
    './models/locca_tiny_shapes.py',
    './schedules/shapes_adamw.py',
    './default_runtime.py',
]

model = dict(
    backbone=dict(
        frozen_stages=4,  # all 4 blocks, the embeddings and the final norm
        init_cfg=None),
    head=dict(parallel_ratio=0.0),
)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=100_000, max_keep_ckpts=1, save_last=True))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='LocCaVisualizer', vis_backends=vis_backends)
randomness = dict(seed=0)
