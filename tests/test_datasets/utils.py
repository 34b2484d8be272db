"""Pipelines and paths shared by the dataset tests."""
import os.path as osp

from locca_mm.utils import data_benchmark
from tests.conftest import ROOT

DATA = osp.join(ROOT, 'tests', 'data')
TOKENIZER = dict(type='LocCaTokenizer', box_tokenizer=dict(type='BoxTokenizer', num_bins=64),
                 max_length=dict(cap=96, aref=48, gcap=48))


def train_pipeline(size=64, flip=0.0, tasks=('cap', 'aref', 'gcap')):
    """The pretraining pipeline the benchmark measures, at test size."""
    return data_benchmark.train_pipeline(size, flip, tasks)


def eval_pipeline(size=64):
    return [
        dict(type='LoadImage'),
        dict(type='LoadRegions'),
        dict(type='mmdet.Resize', scale=(size, size), keep_ratio=False),
        dict(type='PackLocCaInputs'),
    ]
