"""Evaluation: REC accuracy, caption BLEU/CIDEr, grounded-captioning detection mAP."""
from .metrics import *  # noqa: F401,F403
