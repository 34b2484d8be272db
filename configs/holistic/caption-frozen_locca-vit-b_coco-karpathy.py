# COCO captioning (Karpathy split), holistic frozen-encoder protocol
# (_base_/holistic_frozen_vit_b.py): the LocCa ViT-B/16 encoder frozen, a fresh decoder
# trained on the task; the checkpoint with the best caption/CIDEr is kept. Another encoder
# (Cap, CapPa, CoCa, CLIP) is the same config with --cfg-options encoder_from=CKPT.
# Data (configs/_base_/datasets/caption_coco_karpathy.py):
#   data/coco/train2014/*.jpg, val2014/*.jpg,
#   data/coco/annotations/coco_karpathy_{train,val,test}.json
# Train, then test:
#   python tools/train.py configs/holistic/caption-frozen_locca-vit-b_coco-karpathy.py \
#       --cfg-options encoder_from=work_dirs/locca_vit-b16_256xb32-1100k_webli/iter_1100000.pth
#   python tools/test.py configs/holistic/caption-frozen_locca-vit-b_coco-karpathy.py \
#       work_dirs/caption-frozen_locca-vit-b_coco-karpathy/iter_20000.pth
_base_ = ['../_base_/holistic_frozen_vit_b.py', '../_base_/datasets/caption_coco_karpathy.py']

default_hooks = dict(checkpoint=dict(save_best='caption/CIDEr', rule='greater'))

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
