# Frozen-encoder probe on ImageNet-1k: the LocCaViT-B/16 is frozen and a MAP head (one learned
# query attending to the tokens, big_vision's probe) feeds a linear classifier; 90 epochs,
# AdamW, cosine schedule, batch 1024. GAP instead of MAP:
#   neck=dict(_delete_=True, type='GlobalAveragePooling')
#   python tools/train.py configs/mmpretrain/linear-probe_locca-vit-b_in1k.py
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb2048-linear-coslr-90e_in1k.py',
    '../_base_/models/locca_vit_b_encoder.py',
]

data_preprocessor = _base_.locca_normalization
model = dict(
    backbone=dict(_base_.locca_encoder, frozen_stages=12),
    neck=dict(_delete_=True, type='locca_mm.MAPNeck', in_channels=768, num_heads=12))

train_dataloader = dict(batch_size=128)  # 8 GPUs x 128
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',  # on GPUs, type='AmpOptimWrapper' for float16 as MAE's probe
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4))
