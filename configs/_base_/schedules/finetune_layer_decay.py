# Fine-tuning a pretrained LocCa with the encoder trained (the fine-tuned REC protocol and
# COCO detection by the decoder): AdamW, lr 1e-4 for the decoder (and every non-encoder
# parameter) and lr * 0.75^(13 - i) for encoder block i (LayerDecayOptimWrapperConstructor;
# embeddings 0.75^13), weight decay 0.05 on kernels only (as big_vision), gradient clipping
# 1.0; 1k linear warm-up, then cosine to 0. The length is the protocol's (train_cfg.max_iters).
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=0.75),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=1000, eta_min_ratio=0.0),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20_000, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=256, enable=False)
