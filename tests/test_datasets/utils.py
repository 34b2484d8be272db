"""Pipelines and paths shared by the dataset tests."""
import os.path as osp

from tests.conftest import ROOT

DATA = osp.join(ROOT, 'tests', 'data')
TOKENIZER = dict(type='LocCaTokenizer', box_tokenizer=dict(type='BoxTokenizer', num_bins=64),
                 max_length=dict(cap=96, aref=48, gcap=48))


def train_pipeline(size=64, flip=0.0, tasks=('cap', 'aref', 'gcap')):
    return [
        dict(type='LoadImage'),
        dict(type='LoadRegions'),
        dict(type='mmdet.Resize', scale=(size, size), keep_ratio=False),
        dict(type='mmdet.RandomFlip', prob=flip),
        dict(type='SwapLeftRight'),
        dict(type='SampleRegions', score_thr=0.3),
        dict(type='BuildTaskSequences', tasks=tasks),
        dict(type='PackLocCaInputs'),
    ]


def eval_pipeline(size=64):
    return [
        dict(type='LoadImage'),
        dict(type='LoadRegions'),
        dict(type='mmdet.Resize', scale=(size, size), keep_ratio=False),
        dict(type='PackLocCaInputs'),
    ]
