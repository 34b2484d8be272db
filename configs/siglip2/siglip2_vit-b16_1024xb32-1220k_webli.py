# SigLIP 2 ViT-B/16 pretraining, the full recipe: SigLIP (sigmoid loss) + LocCa's decoder for
# the whole run, and from 80 % of the steps on an EMA teacher with SILC's local-to-global
# self-distillation and TIPS' masked prediction (SigLIP2StageHook). The paper's schedule: Adam
# at lr 1e-3 with decoupled weight decay 1e-4 (torch's AdamW: 0.1 at lr 1e-3, see
# adamw_cosine.py), gradient clipping at norm 1, cosine decay after 20k warm-up steps, 32k
# images a step (32 per GPU x 1024 GPUs) for 40B examples (1.22 M steps). Data: WebDataset
# shards with captions and regions (docs/en/user_guides/data.md), validated as LocCa is.
#   bash tools/dist_train.sh configs/siglip2/siglip2_vit-b16_1024xb32-1220k_webli.py 8 \
#       --cfg-options "train_dataloader.dataset.shards=data/webli/train-{000000..099999}.tar"
_base_ = [
    '../_base_/models/siglip2_vit_b.py',
    '../_base_/datasets/wds_shards.py',
    '../_base_/datasets/pretrain_val.py',
    '../_base_/schedules/adamw_cosine.py',
    '../_base_/default_runtime.py',
]

model = dict(stage_two=dict(_base_.stage_two, _delete_=True))
warmup_iters = 20_000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, eta_min_ratio=0.0),
]
train_cfg = dict(max_iters=1_220_000, val_interval=10_000)
auto_scale_lr = dict(base_batch_size=32768)
custom_hooks = [
    *_base_.custom_hooks,
    # EMA momentum 0.996 held fixed (DINO's value; SILC keeps its momentum fixed).
    dict(type='SigLIP2StageHook', start_fraction=0.8, momentum=0.996),
]
default_hooks = dict(checkpoint=dict(save_best='aref/Acc@0.5', rule='greater'))

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
