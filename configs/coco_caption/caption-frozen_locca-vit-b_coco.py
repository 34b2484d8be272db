# Caption transfer to COCO: the REC protocol's frozen encoder and fresh decoder
# (_base_/rec_frozen_locca_vit_b.py) learning COCO captions; CIDEr and BLEU on val2017
# (tools/test.py prints them).
#   python tools/train.py configs/coco_caption/caption-frozen_locca-vit-b_coco.py \
#       --cfg-options encoder_from=work_dirs/locca_vit-b16_256xb32-1100k_webli/iter_1100000.pth
_base_ = ['../_base_/rec_frozen_locca_vit_b.py', '../_base_/datasets/coco_caption_eval.py']

model = dict(head=dict(tasks=('cap', )), test_cfg=dict(task='cap', num_beams=3, max_new_tokens=40))
default_hooks = dict(checkpoint=dict(save_best='caption/CIDEr'))

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
