# Pretraining of the contrastive-only (CLIP) baseline, ViT-B/16: LocCa's recipe. No
# validation loop: a contrastive-only model has no decoder to caption or localise with.
_base_ = ['../_base_/models/clip_vit_b.py', '../_base_/pretrain_webli.py']

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
