"""Throughput of the data pipeline, as one data worker sees it (the ``data`` section of
``tools/benchmarks/benchmark.py``, and ``tools/benchmarks/data_benchmark.py``); the dataset
tests build their pipeline from :func:`train_pipeline` and :data:`TOKENIZER`."""
import json
import os.path as osp
import tempfile
import time
from typing import Dict

TOKENIZER = dict(type='LocCaTokenizer', box_tokenizer=dict(type='BoxTokenizer', num_bins=500),
                 max_length=dict(cap=64, aref=24, gcap=24))


def train_pipeline(size: int, flip: float = 0.0, tasks=('cap', 'aref', 'gcap')) -> list:
    """The pretraining pipeline at ``size`` px (what the configs use) for ``tasks``."""
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


def samples_per_second(dataset, n: int) -> float:
    """Samples per second of ``dataset[i]`` in this process, after one warm-up sample."""
    dataset[0]
    start = time.perf_counter()
    for i in range(n):
        dataset[i % len(dataset)]
    return n / (time.perf_counter() - start)


def write_jpeg_records(root: str, count: int) -> str:
    """``count`` 640x480 JPEGs of shapes and a JSONL of their captions and regions."""
    import cv2

    from locca_mm.datasets import SyntheticShapes
    shapes = SyntheticShapes(num_samples=count, img_size=480, seed=7)
    lines = []
    for i in range(count):
        info = shapes.get_data_info(i)
        cv2.imwrite(osp.join(root, f'{i}.jpg'), cv2.resize(info['img'], (640, 480)),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
        sx = 640 / 480
        regions = [dict(bbox=[float(b[0]) * sx, float(b[1]), float(b[2]) * sx, float(b[3])],
                        text=t, score=0.9)
                   for b, t in zip(info['regions']['bboxes'], info['regions']['texts'])]
        lines.append(json.dumps(dict(image=f'{i}.jpg', caption=info['captions'][0],
                                     regions=regions)))
    path = osp.join(root, 'records.jsonl')
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def data_rates(quick: bool = False) -> Dict[str, float]:
    """Samples/s of one worker: SyntheticShapes (64 px) and JPEG records resized to 224 px."""
    from locca_mm.datasets import JsonlDataset, SyntheticShapes
    from locca_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    n = 100 if quick else 1000
    shapes = SyntheticShapes(num_samples=10_000, img_size=64, pipeline=train_pipeline(64, 0.5),
                             tokenizer=TOKENIZER)
    rates = dict(shapes_64px=round(samples_per_second(shapes, n), 1))
    with tempfile.TemporaryDirectory() as root:
        ann = write_jpeg_records(root, 16 if quick else 64)
        records = JsonlDataset(ann_file=ann, data_prefix=dict(img_path=root),
                               pipeline=train_pipeline(224), tokenizer=TOKENIZER)
        rates['jpeg_640x480_to_224px'] = round(samples_per_second(records, n // 2), 1)
    return rates
