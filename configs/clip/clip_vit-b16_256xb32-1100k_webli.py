# Pretraining of the contrastive-only (CLIP) baseline, ViT-B/16.
_base_ = [
    '../_base_/models/clip_vit_b.py',
    '../_base_/datasets/wds_shards.py',
    '../_base_/schedules/adafactor_cosine.py',
    '../_base_/default_runtime.py',
]

# 8192 images a step, as in the paper: e.g. 256 GPUs x 32 (tools/dist_train.sh / slurm_train.sh).
# The dataset tokenises with model.tokenizer (the Runner builds the model first).
train_dataloader = dict(batch_size=32)
# No validation loop: a contrastive-only model has no decoder to caption or localise with.
