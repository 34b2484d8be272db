# The fine-tuned REC setting (see rec-finetune_locca-vit-b_refcoco.py) on RefCOCO+: val,
# testA, testB.
#   python tools/train.py configs/refcoco/rec-finetune_locca-vit-b_refcocop.py
_base_ = ['../_base_/rec_finetune_locca_vit_b.py', '../_base_/datasets/refcocop.py']

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
