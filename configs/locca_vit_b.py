# LocCa ViT-B/16 pretraining with the paper's recipe: the project's entry point.
#   python tools/train.py configs/locca_vit_b.py                 # one machine
#   bash tools/dist_train.sh configs/locca_vit_b.py 8            # 8 GPUs (torchrun, DDP)
#   python tools/train.py configs/locca_vit_b.py --dry-run       # check the config, no training
# One ViT-B/16 encoder and one 6-layer decoder trained on three task-prefixed objectives:
# Cap (half of its rows in CapPa parallel prediction), ARef (a region's text, then its box)
# and GCap (a box, then its text), boxes as 500 location tokens; the paper's Adafactor
# schedule over 1.1 M steps of 8192 images (32 a GPU), on WebDataset shards
# (configs/_base_/pretrain_webli.py says how to make them). This file is the OpenMMLab-named
# configs/locca/locca_vit-b16_256xb32-1100k_webli.py, beside its baselines (configs/cap,
# cappa, coca, clip) and ablations: configs/locca/README.md.
_base_ = ['./locca/locca_vit-b16_256xb32-1100k_webli.py']
