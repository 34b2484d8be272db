# The ViTDet recipe (Li et al., 2022; mmdet's projects/ViTDet) for a LocCaViT-B/16 encoder:
# large-scale jitter at 1024 x 1024, AdamW (lr 1e-4, wd 0.1) with layer-wise lr decay 0.7,
# drop path 0.1, 100 epochs = 184,375 iterations at batch 64 (16 GPUs x 4 images).
# `vitdet_model` goes into mmdet's own Mask R-CNN / Cascade Mask R-CNN models (the configs
# next to this directory). Where ViTDet and this recipe differ: docs/en/user_guides/transfer.md
# ("ViTDet and this recipe").
_base_ = [
    'mmdet::common/lsj-100e_coco-instance.py',
    '../../_base_/models/locca_vit_b_encoder.py',
]

image_size = (1024, 1024)
# LayerNorm over channels (ViTDet's LN2d) in the neck and the RoI heads.
norm_cfg = dict(type='mmpretrain.LN2d', eps=1e-6, requires_grad=True)

# What the Mask R-CNN and Cascade Mask R-CNN configs change in mmdet's models.
vitdet_model = dict(
    data_preprocessor=dict(
        _base_.locca_normalization,
        bgr_to_rgb=True,
        pad_size_divisor=32,
        batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]),
    backbone=dict(
        _base_.locca_encoder,
        img_size=image_size[0],  # a 64 x 64 grid: a 224-px table is resampled on load
        out_indices=(-1, ),
        drop_path_rate=0.1,
        window_size=14,
        global_attn_indexes=(2, 5, 8, 11)),
    neck=dict(
        _delete_=True,
        type='locca_mm.SimpleFPN',
        backbone_channel=768,
        in_channels=[192, 384, 768, 768],
        out_channels=256,
        num_outs=5,
        norm_cfg=norm_cfg),
    rpn_head=dict(num_convs=2))

# Test images are padded to the training size too, so the position table is the one trained.
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='Pad', size=image_size, pad_val=dict(img=(128, 128, 128))),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=4, num_workers=8, sampler=dict(type='InfiniteSampler'))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',  # on GPUs, type='AmpOptimWrapper' for float16 as ViTDet
    constructor='locca_mm.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.7),
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1))

max_iters = 184375
interval = 5000
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[163889, 177546], gamma=0.1),
]
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=interval,
    dynamic_intervals=[(max_iters // interval * interval + 1, max_iters)])
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=interval, save_last=True,
                    max_keep_ckpts=5))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)
auto_scale_lr = dict(base_batch_size=64)
