# UperNet on a LocCaViT-B/16 encoder, ADE20K 512 x 512, 160k iterations at batch 16: mmseg's
# MAE-B recipe (blocks 4, 6, 8, 12 through Feature2Pyramid, AdamW lr 1e-4, wd 0.05, layer-wise
# lr decay 0.65, drop path 0.1), with LocCa's input normalisation.
#   python tools/train.py configs/mmseg/upernet_locca-vit-b_ade20k-512x512.py
_base_ = [
    'mmseg::mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py',
    '../_base_/models/locca_vit_b_encoder.py',
]

model = dict(
    pretrained=None,
    data_preprocessor=_base_.locca_normalization,
    backbone=dict(_base_.locca_encoder, img_size=512, out_indices=(3, 5, 7, 11),
                  drop_path_rate=0.1))

optim_wrapper = dict(
    constructor='locca_mm.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.65))
