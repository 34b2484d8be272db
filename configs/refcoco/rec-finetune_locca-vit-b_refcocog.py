# The fine-tuned REC setting (see rec-finetune_locca-vit-b_refcoco.py) on RefCOCOg: UMD val,
# test.
#   python tools/train.py configs/refcoco/rec-finetune_locca-vit-b_refcocog.py
_base_ = ['../_base_/rec_finetune_locca_vit_b.py', '../_base_/datasets/refcocog.py']

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
