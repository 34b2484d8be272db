# Pretraining of LocCa ViT-L/16: Cap (half in parallel prediction) + ARef + GCap.
_base_ = [
    '../_base_/models/locca_vit_l.py',
    '../_base_/datasets/wds_shards.py',
    '../_base_/datasets/pretrain_val.py',
    '../_base_/schedules/adafactor_cosine.py',
    '../_base_/default_runtime.py',
]

# 8192 images a step, as in the paper: e.g. 256 GPUs x 32 (tools/dist_train.sh / slurm_train.sh).
# The dataset tokenises with model.tokenizer (the Runner builds the model first).
train_dataloader = dict(batch_size=32)
# Validation every 10k steps (held-out captions and RefCOCO val expressions, see
# _base_/datasets/pretrain_val.py); the checkpoint with the best own-ARef accuracy is kept.
default_hooks = dict(checkpoint=dict(save_best='aref/Acc@0.5', rule='greater'))
