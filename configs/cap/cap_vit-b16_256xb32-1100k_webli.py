# Pretraining of the Cap baseline, ViT-B/16 (autoregressive captioning only): LocCa's recipe,
# validated on held-out captions (best CIDEr kept).
_base_ = ['../_base_/models/cap_vit_b.py', '../_base_/pretrain_webli_val_captions.py']

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
