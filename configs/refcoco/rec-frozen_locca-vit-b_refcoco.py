# The paper's RefCOCO protocol (_base_/rec_frozen_locca_vit_b.py): the pretrained ViT-B/16
# encoder is frozen and a freshly initialised decoder learns ARef on RefCOCO train, 32
# expressions a GPU (x 8 GPUs = 256 a step); Acc@0.5 on val, testA and testB. The encoder
# comes from `model.backbone.init_cfg`; with the tools also:
#   python tools/train.py configs/refcoco/rec-frozen_locca-vit-b_refcoco.py \
#       --cfg-options encoder_from=work_dirs/locca_vit-b16_256xb32-1100k_webli/iter_1100000.pth
_base_ = ['../_base_/rec_frozen_locca_vit_b.py', '../_base_/datasets/refcoco.py']

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
