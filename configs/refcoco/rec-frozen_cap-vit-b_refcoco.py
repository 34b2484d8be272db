# The RefCOCO protocol for the Cap encoder: the same frozen-encoder, fresh-decoder
# training as rec-frozen_locca-vit-b_refcoco.py, from configs/cap_vit_b.py's checkpoint.
_base_ = './rec-frozen_locca-vit-b_refcoco.py'

encoder_from = 'work_dirs/cap_vit_b/iter_1100000.pth'
