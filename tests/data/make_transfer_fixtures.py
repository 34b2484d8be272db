"""Write the tiny transfer fixtures under tests/data/ (deterministic).

    python tests/data/make_transfer_fixtures.py

- ``ade/``: ADE20K layout for mmseg's ``ADE20KDataset`` — ``images/{training,
  validation}/*.jpg`` and ``annotations/{training,validation}/*.png`` label
  maps with values 0 (other, ignored by ``reduce_zero_label``) and 1..150.
- ``imagenet/``: ImageNet layout for mmpretrain's ``ImageNet`` — images in
  ``train/`` and ``val/`` listed with their class index in ``meta/train.txt``
  and ``meta/val.txt``.

The detection fixture (COCO instances with polygon masks) is
``coco/annotations/instances_tiny.json`` from ``make_fixtures.py``.
"""
import os
import os.path as osp

import cv2
import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
# ADE20K: (split, name, width, height, [(class 1..150, x1, y1, x2, y2)]).
ADE_SCENES = [
    ('training', 'ADE_train_00000001', 64, 48, [(3, 0, 0, 64, 20), (13, 8, 24, 40, 48)]),
    ('training', 'ADE_train_00000002', 48, 64, [(1, 0, 0, 48, 30), (20, 10, 34, 30, 60)]),
    ('validation', 'ADE_val_00000001', 64, 64, [(3, 0, 0, 64, 24), (13, 20, 30, 50, 60)]),
]
# ImageNet: (split, file, class index, BGR colour).
IMAGENET = [
    ('train', 'n01440764_1.jpg', 0, (40, 40, 220)),
    ('train', 'n01443537_1.jpg', 1, (60, 180, 60)),
    ('train', 'n01484850_1.jpg', 2, (220, 90, 40)),
    ('train', 'n01491361_1.jpg', 3, (30, 200, 220)),
    ('val', 'ILSVRC2012_val_00000001.jpg', 0, (40, 40, 220)),
    ('val', 'ILSVRC2012_val_00000002.jpg', 2, (220, 90, 40)),
]


def save(path: str, img: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if path.endswith('.jpg') else []
    assert cv2.imwrite(path, img, params), path


def ade20k():
    rng = np.random.default_rng(0)
    for split, name, w, h, regions in ADE_SCENES:
        img = rng.integers(60, 90, (h, w, 3), dtype=np.uint8)
        label = np.zeros((h, w), dtype=np.uint8)  # 0: "other"
        for cls, x1, y1, x2, y2 in regions:
            img[y1:y2, x1:x2] = (cls * 37 % 256, cls * 71 % 256, cls * 113 % 256)
            label[y1:y2, x1:x2] = cls
        save(osp.join(HERE, 'ade', 'images', split, name + '.jpg'), img)
        save(osp.join(HERE, 'ade', 'annotations', split, name + '.png'), label)


def imagenet():
    rng = np.random.default_rng(1)
    lists = {}
    for split, name, cls, colour in IMAGENET:
        img = rng.integers(0, 60, (40, 48, 3), dtype=np.uint8)
        cv2.circle(img, (24, 20), 14, colour, -1)
        save(osp.join(HERE, 'imagenet', split, name), img)
        lists.setdefault(split, []).append(f'{name} {cls}')
    for split, lines in lists.items():
        os.makedirs(osp.join(HERE, 'imagenet', 'meta'), exist_ok=True)
        with open(osp.join(HERE, 'imagenet', 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    ade20k()
    imagenet()
    print(f'transfer fixtures written under {HERE}')
