# Pretraining of the CoCa baseline, ViT-B/16 (contrastive + captioning, decoupled decoder):
# LocCa's recipe, validated on held-out captions (best CIDEr kept).
_base_ = ['../_base_/models/coca_vit_b.py', '../_base_/pretrain_webli_val_captions.py']

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
