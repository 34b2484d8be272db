# The RefCOCO protocol (see rec-frozen_locca-vit-b_refcoco.py) on RefCOCO+: val, testA, testB.
_base_ = ['../_base_/rec_frozen_locca_vit_b.py', '../_base_/datasets/refcocop.py']
