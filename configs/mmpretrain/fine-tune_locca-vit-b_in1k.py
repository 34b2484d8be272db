# Fine-tuning the LocCaViT-B/16 on ImageNet-1k: mmpretrain's MAE-B recipe (100 epochs, AdamW
# lr 2e-3 at batch 1024, layer-wise lr decay 0.65, drop path 0.1, RandAugment, Mixup/CutMix,
# label smoothing) with global average pooling of the encoder's tokens.
#   python tools/train.py configs/mmpretrain/fine-tune_locca-vit-b_in1k.py
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
    '../_base_/models/locca_vit_b_encoder.py',
]

data_preprocessor = _base_.locca_normalization
model = dict(
    backbone=dict(_base_.locca_encoder, drop_path_rate=0.1),
    neck=dict(_delete_=True, type='GlobalAveragePooling'))

optim_wrapper = dict(
    constructor='locca_mm.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.65))
