# Linear segmentation probe: the frozen LocCaViT-B/16 and one linear layer (a 1x1 conv) on the
# last block's tokens, upsampled to the labels; ADE20K 512 x 512, 160k iterations at batch 16.
# The head of linear-finetune_locca-vit-b_ade20k-512x512.py (the paper's Table 5 setting, where
# the encoder trains too); here only the head trains.
#   python tools/train.py configs/mmseg/linear-frozen_locca-vit-b_ade20k-512x512.py
_base_ = './linear-finetune_locca-vit-b_ade20k-512x512.py'

model = dict(backbone=dict(frozen_stages=12, drop_path_rate=0.0))

# Only the linear layer trains.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4))
