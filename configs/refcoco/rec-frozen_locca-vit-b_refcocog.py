# The RefCOCO protocol (see rec-frozen_locca-vit-b_refcoco.py) on RefCOCOg: UMD val, test.
_base_ = ['../_base_/rec_frozen_locca_vit_b.py', '../_base_/datasets/refcocog.py']

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
