# The RefCOCO protocol (see rec-frozen_locca-vit-b_refcoco.py) on RefCOCO+: val, testA, testB.
_base_ = ['../_base_/rec_frozen_locca_vit_b.py', '../_base_/datasets/refcocop.py']

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
