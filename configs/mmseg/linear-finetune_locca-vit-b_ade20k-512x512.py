# ADE20K with the encoder fine-tuned and a linear head (the paper's Table 5): LocCaViT-B/16 and
# one linear layer (a 1x1 conv) on the last block's tokens, upsampled to the labels; the encoder
# trains with layer-wise lr decay. 512 x 512 crops, 160k iterations at batch 16 (8 GPUs x 2),
# mmseg's ViT-B fine-tuning recipe as in upernet_locca-vit-b_ade20k-512x512.py: AdamW lr 1e-4,
# wd 0.05, layer decay 0.65, drop path 0.1, 1.5k warm-up then poly decay; sliding-window test.
#   python tools/train.py configs/mmseg/linear-finetune_locca-vit-b_ade20k-512x512.py
#   python tools/test.py configs/mmseg/linear-finetune_locca-vit-b_ade20k-512x512.py CKPT   # mIoU
# The frozen-encoder probe with the same head: linear-frozen_locca-vit-b_ade20k-512x512.py.
_base_ = './upernet_locca-vit-b_ade20k-512x512.py'

model = dict(
    backbone=dict(out_indices=(-1, )),
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
