# ImageNet-1k classification as text, holistic frozen-encoder protocol
# (_base_/holistic_frozen_vit_b.py): the LocCa ViT-B/16 encoder frozen, a fresh decoder
# trained on the task; the checkpoint with the best cls/accuracy is kept. Another encoder
# (Cap, CapPa, CoCa, CLIP) is the same config with --cfg-options encoder_from=CKPT.
# Data (configs/_base_/datasets/cls_imagenet.py):
#   data/imagenet/train/*.JPEG (or train/<wnid>/*.JPEG), val/*.JPEG, meta/train.txt,
#   meta/val.txt (lines '<file> <class index>'; the folder layout needs all 1000 folders).
# Train, then test:
#   python tools/train.py configs/holistic/cls-frozen_locca-vit-b_imagenet.py \
#       --cfg-options encoder_from=work_dirs/locca_vit-b16_256xb32-1100k_webli/iter_1100000.pth
#   python tools/test.py configs/holistic/cls-frozen_locca-vit-b_imagenet.py \
#       work_dirs/cls-frozen_locca-vit-b_imagenet/iter_20000.pth
_base_ = ['../_base_/holistic_frozen_vit_b.py', '../_base_/datasets/cls_imagenet.py']

default_hooks = dict(checkpoint=dict(save_best='cls/accuracy', rule='greater'))

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
