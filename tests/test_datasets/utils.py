"""Pipelines and paths shared by the dataset tests."""
import os.path as osp

from locca_mm.cli.bench import data_rates
from tests.conftest import ROOT

DATA = osp.join(ROOT, 'tests', 'data')
TOKENIZER = dict(type='LocCaTokenizer', box_tokenizer=dict(type='BoxTokenizer', num_bins=64),
                 max_length=dict(cap=96, aref=48, gcap=48))


def train_pipeline(size=64, flip=0.0, tasks=('cap', 'aref', 'gcap')):
    """The pretraining pipeline the benchmark measures, at test size."""
    return data_rates.train_pipeline(size, flip, tasks)


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


def write_tar(path, members) -> str:
    """A tar of ``(name, bytes)`` members in the given order (what img2dataset writes)."""
    import io
    import tarfile
    with tarfile.open(path, 'w') as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def jpeg_bytes(seed: int, height: int = 40, width: int = 56) -> bytes:
    """A random RGB image as JPEG bytes."""
    import cv2
    import numpy as np
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.imencode('.jpg', image)[1].tobytes()


def pair_shards(folder, num_shards=4, per_shard=3, captions=('a dog', 'red car', 'two cats'),
                name='pairs') -> str:
    """img2dataset-layout shards ``NAME-00000{0..}.tar``; returns their brace pattern.

    Keys are ``SSSSJJJJ``; sample j has the caption ``captions[(j + s) % len]`` in
    ``.txt`` except j == 1, whose caption is only in the ``.json`` (with url/width/height).
    """
    import json
    import os
    os.makedirs(folder, exist_ok=True)
    for s in range(num_shards):
        members = []
        for j in range(per_shard):
            key, height = f'{s:04d}{j:04d}', 40 + 8 * j
            caption = captions[(j + s) % len(captions)]
            meta = dict(url=f'https://example.com/{key}.jpg', width=56, height=height)
            if j == 1:
                meta['caption'] = caption
            members.append((f'{key}.jpg', jpeg_bytes(100 * s + j, height)))
            members.append((f'{key}.json', json.dumps(meta).encode()))
            if j != 1:
                members.append((f'{key}.txt', caption.encode()))
        write_tar(osp.join(folder, f'{name}-{s:06d}.tar'), members)
    return osp.join(str(folder), f'{name}-{{000000..{num_shards - 1:06d}}}.tar')
