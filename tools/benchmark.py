"""Measure locca_mm and print one JSON object: ``python tools/benchmark.py [--data] [--quick]``.

Every figure is measured in this run, side by side, on this machine.

- ``--data``: samples per second of one data worker (the pipeline run in a
  single process, as a DataLoader worker runs it) for SyntheticShapes and for
  JPEG records (640x480 JPEGs read from disk, resized to 224 px, regions
  sampled, task sequences tokenised, packed).
"""
import argparse
import json
import os.path as osp
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

TOKENIZER = dict(type='LocCaTokenizer', box_tokenizer=dict(type='BoxTokenizer', num_bins=500),
                 max_length=dict(cap=64, aref=24, gcap=24))


def _pipeline(size: int, flip: float = 0.0):
    return [
        dict(type='LoadImage'),
        dict(type='LoadRegions'),
        dict(type='mmdet.Resize', scale=(size, size), keep_ratio=False),
        dict(type='mmdet.RandomFlip', prob=flip),
        dict(type='SwapLeftRight'),
        dict(type='SampleRegions', score_thr=0.3),
        dict(type='BuildTaskSequences'),
        dict(type='PackLocCaInputs'),
    ]


def _rate(dataset, n: int) -> float:
    dataset[0]  # warm-up (lazy init, first imports)
    start = time.perf_counter()
    for i in range(n):
        dataset[i % len(dataset)]
    return n / (time.perf_counter() - start)


def _jpeg_records(root: str, count: int) -> str:
    """``count`` 640x480 JPEGs of shapes with a JSONL of captions and regions."""
    import cv2

    from locca_mm.datasets import SyntheticShapes
    shapes = SyntheticShapes(num_samples=count, img_size=480, seed=7)
    lines = []
    for i in range(count):
        info = shapes.get_data_info(i)
        img = cv2.resize(info['img'], (640, 480))
        cv2.imwrite(osp.join(root, f'{i}.jpg'), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        regions = [dict(bbox=[float(b[0]) * 640 / 480, float(b[1]), float(b[2]) * 640 / 480,
                              float(b[3])], text=t, score=0.9)
                   for b, t in zip(info['regions']['bboxes'], info['regions']['texts'])]
        lines.append(json.dumps(dict(image=f'{i}.jpg', caption=info['captions'][0],
                                     regions=regions)))
    path = osp.join(root, 'records.jsonl')
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def bench_data(quick: bool) -> dict:
    from locca_mm.datasets import JsonlDataset, SyntheticShapes
    from locca_mm.utils import register_all_modules
    register_all_modules()
    n = 100 if quick else 1000
    shapes = SyntheticShapes(num_samples=10_000, img_size=64, pipeline=_pipeline(64, 0.5),
                             tokenizer=TOKENIZER)
    out = dict(shapes_64px=round(_rate(shapes, n), 1))
    with tempfile.TemporaryDirectory() as root:
        ann = _jpeg_records(root, 16 if quick else 64)
        records = JsonlDataset(ann_file=ann, data_prefix=dict(img_path=root),
                               pipeline=_pipeline(224), tokenizer=TOKENIZER)
        out['jpeg_640x480_to_224px'] = round(_rate(records, n // 2), 1)
    return dict(samples_per_s_per_worker=out)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Measure locca_mm; prints one JSON object')
    parser.add_argument('--data', action='store_true', help='data pipeline throughput')
    parser.add_argument('--quick', action='store_true', help='fewer repetitions')
    args = parser.parse_args(argv)
    import torch
    result = dict(device='cuda' if torch.cuda.is_available() else 'cpu',
                  torch_threads=torch.get_num_threads())
    # The data section is the only one so far, so it runs whether or not --data is given.
    result.update(bench_data(args.quick))
    print(json.dumps(result, indent=1, sort_keys=True))
    return result


if __name__ == '__main__':
    main()
