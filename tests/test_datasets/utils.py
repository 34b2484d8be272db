"""Pipelines and paths shared by the dataset tests."""
import os.path as osp

from tests.conftest import ROOT
from tools import data_benchmark

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


def transform_results(w=80, h=60):
    """What a dataset hands the transforms: an 80x60 image, two captions, two regions with
    left/right in their texts, and a referring expression."""
    import numpy as np

    from locca_mm.datasets.base import make_regions
    img = np.zeros((h, w, 3), dtype=np.uint8)
    return dict(img=img, source='test#0', captions=['the dog left of the cat', 'Right here'],
                regions=make_regions([[5, 10, 25, 30], [40, 5, 78, 55]],
                                     ['left dog', 'cat on the RIGHT'], [0.9, 0.2]),
                ref_text='the leftmost dog')
