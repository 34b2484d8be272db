# The RefCOCO protocol for the CLIP (contrastive-only) encoder: the same frozen-encoder, fresh-decoder
# training as rec-frozen_locca-vit-b_refcoco.py, from configs/clip_vit_b.py's checkpoint.
_base_ = './rec-frozen_locca-vit-b_refcoco.py'

encoder_from = 'work_dirs/clip_vit_b/iter_1100000.pth'
