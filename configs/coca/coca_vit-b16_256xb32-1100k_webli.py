# Pretraining of the CoCa baseline, ViT-B/16 (contrastive + captioning, decoupled decoder):
# LocCa's recipe, validated on held-out captions (best CIDEr kept).
_base_ = ['../_base_/models/coca_vit_b.py', '../_base_/pretrain_webli_val_captions.py']
