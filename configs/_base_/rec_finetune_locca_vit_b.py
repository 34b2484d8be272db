# The paper's fine-tuned REC setting (Table 1), ViT-B/16: encoder AND decoder start from the
# pretrained LocCa checkpoint (the decoder is the pretrained one, unlike the frozen protocol of
# rec_frozen_locca_vit_b.py) and both train on ARef rows, scored as 'ref' predictions (Acc@0.5;
# the best checkpoint is kept). The dataset base comes beside it (configs/refcoco/).
#   python tools/train.py configs/refcoco/rec-finetune_locca-vit-b_refcoco.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=CKPT model.head.init_cfg.checkpoint=CKPT
# Recipe (not stated in the paper): AdamW, lr 1e-4 for the decoder and lr * 0.75^(13 - i) for
# encoder block i (layer-wise decay 0.75; embeddings 0.75^13), weight decay 0.05 on kernels,
# drop path 0.1, gradient clipping 1.0, 1k warm-up then cosine, 20k steps of 256 expressions.
_base_ = [
    './models/locca_vit_b.py',
    './schedules/rec_frozen.py',
    './default_runtime.py',
]

# The pretrained LocCa (both encoder and decoder are read from it).
pretrained = 'work_dirs/locca_vit-b16_256xb32-1100k_webli/iter_1100000.pth'
model = dict(
    backbone=dict(
        drop_path_rate=0.1,
        # Strict: missing / unexpected / mis-shaped encoder keys stop the run; a position
        # table of another grid (a higher fine-tuning resolution) is resampled.
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained)),
    head=dict(
        tasks=('aref', ), parallel_ratio=0.0,
        init_cfg=dict(type='Pretrained', prefix='head.', checkpoint=pretrained)),
    test_cfg=dict(task='ref', num_beams=1),
)

optim_wrapper = dict(
    # Layer-wise lr decay over the encoder (the decoder, like any non-encoder parameter,
    # gets the base lr); weight decay on kernels only, as big_vision.
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=0.75),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=1000, eta_min_ratio=0.0),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20_000, val_interval=5000)
default_hooks = dict(checkpoint=dict(interval=5000, save_best='refcoco/Acc@0.5', rule='greater'))
