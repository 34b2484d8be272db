# The RefCOCO protocol for the LocCa ViT-L/16 encoder (the paper's headline setting).
_base_ = './rec-frozen_locca-vit-b_refcoco.py'

encoder_from = 'work_dirs/locca_vit_l/iter_1100000.pth'
model = dict(backbone=dict(arch='l', frozen_stages=24))
