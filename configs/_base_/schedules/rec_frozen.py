# The REC protocol's decoder training: AdamW lr 1e-3, 1k warm-up, cosine, 20k
# steps of 256 expressions (~40 RefCOCO epochs).
optim_wrapper = dict(
    type='OptimWrapper',
    # Weight decay on kernels only (dense and conv weights), as big_vision.
    constructor='KernelDecayOptimWrapperConstructor',
    # big_vision's wd=1e-4 in torch's convention: 1e-4 / lr (_base_/schedules/adamw_cosine.py).
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.1),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=1000, eta_min_ratio=0.0),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20_000, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=256, enable=False)
