# pretrain_webli.py validated as a captioner is (Cap, CapPa, CoCa): held-out captions only
# (CIDEr / BLEU, datasets/pretrain_val_captions.py) every 10k steps; the checkpoint with the
# best CIDEr is kept.
_base_ = ['./pretrain_webli.py', './datasets/pretrain_val_captions.py']

default_hooks = dict(checkpoint=dict(save_best='caption/CIDEr', rule='greater'))
