# The fine-tuned REC setting (see rec-finetune_locca-vit-b_refcoco.py) on the paper's mixture:
# RefCOCO + RefCOCO+ + RefCOCOg train, without any image of their val/test splits
# (_base_/datasets/refcoco_union.py), one model scored on all eight splits, each under its
# release's name (refcoco/refcoco/val/Acc@0.5, refcoco/refcocop/testA/Acc@0.5,
# refcoco/refcocog/test/Acc@0.5, ...). 40k steps of 256 expressions: ~32 epochs of the
# ~320k expressions, as many as the single-release configs' 20k give RefCOCO (~42).
#   python tools/train.py configs/refcoco/rec-finetune_locca-vit-b_refcoco-union.py \
#       --cfg-options model_from=CKPT   # the encoder and the decoder from CKPT
#   python tools/test.py configs/refcoco/rec-finetune_locca-vit-b_refcoco-union.py \
#       work_dirs/rec-finetune_locca-vit-b_refcoco-union/best_refcoco_Acc@0.5_iter_40000.pth
_base_ = ['../_base_/rec_finetune_locca_vit_b.py', '../_base_/datasets/refcoco_union.py']

train_cfg = dict(max_iters=40_000, val_interval=5000)

# The model's tokenizer for every release's BuildTaskSequences (one config entry for all).
train_dataloader = dict(dataset=dict(datasets=[
    dict(d, tokenizer=_base_.tokenizer) for d in _base_.train_dataloader.dataset.datasets]))
