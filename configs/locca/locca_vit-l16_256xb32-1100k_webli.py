# Pretraining of LocCa ViT-L/16: Cap (half in parallel prediction) + ARef + GCap, with the
# recipe the baselines share, validated on captions and its own ARef (best ARef kept).
_base_ = ['../_base_/models/locca_vit_l.py', '../_base_/pretrain_webli_val.py']

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
