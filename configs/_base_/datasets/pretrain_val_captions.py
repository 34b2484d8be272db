# Validation while pretraining a captioner (Cap, CapPa, CoCa): the held-out captions of
# pretrain_val.py only (CIDEr / BLEU). A captioner is never trained to localise, so its own
# ARef is not asked for. (The interval is the schedule's; pretrain_webli_val_captions.py keeps
# the best CIDEr.)
_base_ = ['./pretrain_val.py']

val_dataloader = dict(dataset=dict(datasets=[{{_base_.val_captions}}]))
val_evaluator = [dict(type='CaptionMetric')]
