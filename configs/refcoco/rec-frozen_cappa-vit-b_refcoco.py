# The RefCOCO protocol for the CapPa encoder: the same frozen-encoder, fresh-decoder
# training as rec-frozen_locca-vit-b_refcoco.py, from configs/cappa_vit_b.py's checkpoint.
_base_ = './rec-frozen_locca-vit-b_refcoco.py'

encoder_from = 'work_dirs/cappa_vit_b/iter_1100000.pth'
