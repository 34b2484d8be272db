# The paper's fine-tuned REC setting (Table 1; _base_/rec_finetune_locca_vit_b.py): the
# pretrained LocCa ViT-B/16, encoder and decoder, fine-tuned on RefCOCO train (ARef, 32
# expressions a GPU x 8 GPUs = 256 a step), the encoder with layer-wise lr decay; Acc@0.5 on
# val, testA and testB.
#   python tools/train.py configs/refcoco/rec-finetune_locca-vit-b_refcoco.py \
#       --cfg-options model_from=CKPT   # the encoder and the decoder from CKPT
#   python tools/test.py configs/refcoco/rec-finetune_locca-vit-b_refcoco.py \
#       work_dirs/rec-finetune_locca-vit-b_refcoco/best_refcoco_Acc@0.5_iter_20000.pth
_base_ = ['../_base_/rec_finetune_locca_vit_b.py', '../_base_/datasets/refcoco.py']

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
