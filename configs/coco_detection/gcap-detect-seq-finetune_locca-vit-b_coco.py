# COCO detection by the decoder (the paper's COCO detection experiment, without its RL stage):
# the whole pretrained LocCa ViT-B/16 (encoder and decoder, `load_from`) is fine-tuned to write
# every object of an image as one GCap sequence, `GCap: {box} : {name} {box} : {name} ... <eos>`,
# up to 25 pairs; the encoder with layer-wise lr decay. Scored on val2017 as COCO box mAP, the
# texts restricted to the 80 category names while decoding.
#   python tools/train.py configs/coco_detection/gcap-detect-seq-finetune_locca-vit-b_coco.py
#   python tools/test.py configs/coco_detection/gcap-detect-seq-finetune_locca-vit-b_coco.py CKPT
_base_ = [
    '../_base_/models/locca_vit_b.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/finetune_layer_decay.py',
    '../_base_/default_runtime.py',
]

# 25 pairs of at most 8 tokens (4 locations, ':', a COCO name of at most 3 CLIP BPE tokens:
# 'fire hydrant'), the 3-token prefix and eos: 204, rounded up to a multiple of 8. The pretrained
# decoder's 64 positions fill the first rows of the longer table (LocCa loads it so).
seq_len = 208
# The one tokenizer, for the model and the data alike.
tokenizer = dict(_base_.tokenizer, max_length=dict(cap=64, aref=48, gcap=seq_len))
model = dict(
    tokenizer=tokenizer,
    backbone=dict(drop_path_rate=0.1),
    head=dict(tasks=('gcap', ), parallel_ratio=0.0, decoder=dict(max_len=seq_len)),
    # Greedy decoding of the whole sequence (max_new_tokens None: gcap max_length - prefix).
    test_cfg=dict(task='detect_seq', num_beams=1, max_new_tokens=None,
                  max_boxes=_base_.max_boxes, classes=_base_.coco_classes),
)
# The pretrained LocCa (a pretraining run's last checkpoint), encoder and decoder.
load_from = 'work_dirs/locca_vit-b16_256xb32-1100k_webli/iter_1100000.pth'

train_dataloader = dict(batch_size=16,  # x 8 GPUs = 128 images a step
                        dataset=dict(tokenizer=tokenizer))
# The fine-tuning schedule (_base_/schedules/finetune_layer_decay.py): AdamW, layer decay 0.75.
# ~55 epochs of COCO train2017 (118k images) at 128 images a step.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=50_000, val_interval=5000)
default_hooks = dict(checkpoint=dict(interval=5000, save_best='gcap_det/bbox_mAP',
                                     rule='greater'))
auto_scale_lr = dict(base_batch_size=128, enable=False)
