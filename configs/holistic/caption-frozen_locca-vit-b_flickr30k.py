# Flickr30k captioning (Karpathy split), holistic frozen-encoder protocol
# (_base_/holistic_frozen_vit_b.py): the LocCa ViT-B/16 encoder frozen, a fresh decoder
# trained on the task; the checkpoint with the best caption/CIDEr is kept. Another encoder
# (Cap, CapPa, CoCa, CLIP) is the same config with --cfg-options encoder_from=CKPT.
# Data (configs/_base_/datasets/caption_flickr30k.py):
#   data/flickr30k/flickr30k-images/*.jpg, data/flickr30k/dataset_flickr30k.json (Karpathy's)
# Train, then test:
#   python tools/train.py configs/holistic/caption-frozen_locca-vit-b_flickr30k.py \
#       --cfg-options encoder_from=work_dirs/locca_vit-b16_256xb32-1100k_webli/iter_1100000.pth
#   python tools/test.py configs/holistic/caption-frozen_locca-vit-b_flickr30k.py \
#       work_dirs/caption-frozen_locca-vit-b_flickr30k/iter_20000.pth
_base_ = ['../_base_/holistic_frozen_vit_b.py', '../_base_/datasets/caption_flickr30k.py']

default_hooks = dict(checkpoint=dict(save_best='caption/CIDEr', rule='greater'))

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
