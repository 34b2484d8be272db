# Pretraining of the CapPa baseline, ViT-B/16 (captioning, 75% parallel prediction): LocCa's
# recipe, validated on held-out captions (best CIDEr kept).
_base_ = ['../_base_/models/cappa_vit_b.py', '../_base_/pretrain_webli_val_captions.py']

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
