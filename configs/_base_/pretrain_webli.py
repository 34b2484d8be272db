# The pretraining recipe of every *_vit-{b,l}16_256xb32-1100k_webli.py config (LocCa and the
# Cap, CapPa, CoCa and CLIP baselines differ only in the model and in what they are
# validated on: pretrain_webli_val.py, pretrain_webli_val_captions.py): WebDataset shards,
# 32 images per GPU (x 256 GPUs = the paper's 8192 a step, e.g. with tools/dist_train.sh or
# slurm_train.sh), the paper's Adafactor schedule over 1.1 M steps. The dataset tokenises
# with the model's tokenizer (each leaf config gives the dataset `tokenizer=_base_.tokenizer`).
_base_ = [
    './datasets/wds_shards.py',
    './schedules/adafactor_cosine.py',
    './default_runtime.py',
]
