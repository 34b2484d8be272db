# Linear segmentation probe: the frozen LocCaViT-B/16 and one linear layer (a 1x1 conv) on the
# last block's tokens, upsampled to the labels; ADE20K 512 x 512, 160k iterations at batch 16.
#   python tools/train.py configs/mmseg/linear_locca-vit-b_ade20k-512x512.py
_base_ = './upernet_locca-vit-b_ade20k-512x512.py'

model = dict(
    backbone=dict(out_indices=(-1, ), frozen_stages=12, drop_path_rate=0.0),
    neck=None,
    decode_head=dict(
        _delete_=True,
        type='FCNHead',
        in_channels=768,
        channels=768,
        num_convs=0,  # no hidden layer: the classifier reads the tokens directly
        concat_input=False,
        dropout_ratio=0.0,
        num_classes=150,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)

# Only the linear layer trains.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4))
