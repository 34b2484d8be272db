"""Write the tiny real-format fixtures under tests/data/ (deterministic).

    python tests/data/make_fixtures.py

Formats: COCO captions + instances, Visual Genome region descriptions +
image data, RefCOCO (refs(unc).p) and RefCOCOg (refs(umd).p) with
instances.json, JSONL, and WebDataset-layout tar shards. Images are small
JPEGs of coloured shapes whose boxes the annotations give.
"""
import io
import json
import os
import os.path as osp
import pickle
import tarfile

import cv2
import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
COLOURS = {'red': (40, 40, 220), 'green': (60, 180, 60), 'blue': (220, 90, 40)}
# (width, height, [(colour, kind, [x1, y1, x2, y2])])
SCENES = [
    (64, 48, [('red', 'circle', [4, 6, 24, 26]), ('blue', 'square', [36, 10, 56, 30])]),
    (48, 64, [('green', 'square', [8, 8, 28, 28]), ('red', 'square', [10, 36, 30, 56])]),
    (64, 64, [('blue', 'circle', [20, 20, 44, 44])]),
    (56, 40, [('red', 'circle', [2, 2, 20, 20]), ('red', 'circle', [30, 4, 48, 22]),
              ('green', 'square', [20, 24, 36, 38])]),
]


def draw(width, height, objects) -> bytes:
    img = np.full((height, width, 3), 70, dtype=np.uint8)
    for colour, kind, (x1, y1, x2, y2) in objects:
        if kind == 'circle':
            cv2.circle(img, ((x1 + x2) // 2, (y1 + y2) // 2), (x2 - x1) // 2, COLOURS[colour], -1)
        else:
            cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), COLOURS[colour], -1)
    ok, buf = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def write(path: str, data) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    mode = 'wb' if isinstance(data, bytes) else 'w'
    with open(path, mode, **({} if mode == 'wb' else dict(encoding='utf-8'))) as f:
        f.write(data)


def caption_of(objects) -> str:
    return ' and '.join(f'a {c} {k}' for c, k, _ in objects)


def coco():
    images, caps, insts = [], [], []
    cats = [{'id': 1, 'name': 'circle'}, {'id': 2, 'name': 'square'}]
    for i, (w, h, objs) in enumerate(SCENES, start=1):
        name = f'{i:012d}.jpg'
        write(osp.join(HERE, 'coco', 'images', name), draw(w, h, objs))
        images.append({'id': i, 'file_name': name, 'width': w, 'height': h})
        caps.append({'id': 100 + 2 * i, 'image_id': i, 'caption': caption_of(objs)})
        caps.append({'id': 101 + 2 * i, 'image_id': i, 'caption': f'{len(objs)} shapes'})
        for j, (_, kind, (x1, y1, x2, y2)) in enumerate(objs):
            insts.append({'id': 1000 + 10 * i + j, 'image_id': i,
                          'category_id': 1 if kind == 'circle' else 2,
                          'bbox': [x1, y1, x2 - x1, y2 - y1], 'area': (x2 - x1) * (y2 - y1),
                          'iscrowd': 0, 'segmentation': [[x1, y1, x2, y1, x2, y2, x1, y2]]})
    # A crowd annotation never becomes a region.
    insts.append({'id': 9999, 'image_id': 1, 'category_id': 1, 'bbox': [0, 0, 10, 10],
                  'area': 100, 'iscrowd': 1, 'segmentation': [[0, 0, 10, 0, 10, 10, 0, 10]]})
    ann = osp.join(HERE, 'coco', 'annotations')
    write(osp.join(ann, 'captions_tiny.json'),
          json.dumps({'images': images, 'annotations': caps}, indent=1))
    write(osp.join(ann, 'instances_tiny.json'),
          json.dumps({'images': images, 'annotations': insts, 'categories': cats}, indent=1))


def visual_genome():
    regions, image_data = [], []
    for i, (w, h, objs) in enumerate(SCENES, start=1):
        folder = 'VG_100K' if i % 2 else 'VG_100K_2'
        write(osp.join(HERE, 'vg', folder, f'{i}.jpg'), draw(w, h, objs))
        image_data.append({'image_id': i, 'width': w, 'height': h,
                           'url': f'https://cs.stanford.edu/people/rak248/{folder}/{i}.jpg'})
        regions.append({'id': i, 'regions': [
            {'region_id': 100 * i + j, 'image_id': i, 'phrase': f'the {c} {k}', 'x': x1,
             'y': y1, 'width': x2 - x1, 'height': y2 - y1}
            for j, (c, k, (x1, y1, x2, y2)) in enumerate(objs)]})
    write(osp.join(HERE, 'vg', 'region_descriptions.json'), json.dumps(regions, indent=1))
    write(osp.join(HERE, 'vg', 'image_data.json'), json.dumps(image_data, indent=1))


def refcoco():
    images, anns, refs_unc, refs_umd = [], [], [], []
    splits_unc = ['train', 'val', 'testA', 'testB']
    splits_umd = ['train', 'val', 'test', 'train']
    ref_id = 0
    for i, (w, h, objs) in enumerate(SCENES, start=1):
        name = f'COCO_train2014_{i:012d}.jpg'
        write(osp.join(HERE, 'refcoco', 'train2014', name), draw(w, h, objs))
        images.append({'id': i, 'file_name': name, 'width': w, 'height': h})
        for j, (c, k, (x1, y1, x2, y2)) in enumerate(objs):
            ann_id = 1000 + 10 * i + j
            anns.append({'id': ann_id, 'image_id': i, 'category_id': 1,
                         'bbox': [x1, y1, x2 - x1, y2 - y1], 'area': (x2 - x1) * (y2 - y1),
                         'iscrowd': 0})
            side = 'left' if x1 < w / 2 else 'right'
            sentences = [{'sent_id': 10 * ref_id, 'sent': f'{c} {k}', 'raw': f'{c} {k}'},
                         {'sent_id': 10 * ref_id + 1, 'sent': f'{c} {k} on the {side}',
                          'raw': f'{c} {k} on the {side}'}]
            base = {'ref_id': ref_id, 'ann_id': ann_id, 'image_id': i, 'category_id': 1,
                    'file_name': f'COCO_train2014_{i:012d}_{ann_id}.jpg', 'sentences': sentences}
            refs_unc.append(dict(base, split=splits_unc[(i - 1) % 4]))
            refs_umd.append(dict(base, split=splits_umd[(i - 1) % 4]))
            ref_id += 1
    write(osp.join(HERE, 'refcoco', 'instances.json'),
          json.dumps({'images': images, 'annotations': anns,
                      'categories': [{'id': 1, 'name': 'shape'}]}, indent=1))
    write(osp.join(HERE, 'refcoco', 'refs(unc).p'), pickle.dumps(refs_unc, protocol=2))
    write(osp.join(HERE, 'refcoco', 'refs(umd).p'), pickle.dumps(refs_umd, protocol=2))


def jsonl_and_shards():
    lines = []
    members = []
    for i, (w, h, objs) in enumerate(SCENES):
        jpg = draw(w, h, objs)
        write(osp.join(HERE, 'jsonl', 'images', f'{i}.jpg'), jpg)
        record = {'image': f'{i}.jpg', 'caption': caption_of(objs), 'width': w, 'height': h,
                  'regions': [{'bbox': [float(v) for v in box], 'text': f'{c} {k}',
                               'score': round(0.95 - 0.3 * j, 2)}
                              for j, (c, k, box) in enumerate(objs)]}
        lines.append(json.dumps(record))
        members.append((f'sample{i:04d}', jpg, record))
    write(osp.join(HERE, 'jsonl', 'pairs.jsonl'), '\n'.join(lines) + '\n')
    # Two shards of 6 samples each (the 4 scenes, repeated with other keys).
    for s in range(2):
        path = osp.join(HERE, 'shards', f'shard-{s:06d}.tar')
        os.makedirs(osp.dirname(path), exist_ok=True)
        with tarfile.open(path, 'w', format=tarfile.USTAR_FORMAT) as tar:
            for k in range(6):
                key, jpg, record = members[(s * 6 + k) % len(members)]
                key = f'{s:02d}{k:02d}_{key}'
                rec = {x: v for x, v in record.items() if x != 'image'}
                for name, payload in ((f'{key}.jpg', jpg),
                                      (f'{key}.json', json.dumps(rec).encode())):
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime, info.mode = len(payload), 0, 0o644
                    tar.addfile(info, io.BytesIO(payload))


if __name__ == '__main__':
    coco()
    visual_genome()
    refcoco()
    jsonl_and_shards()
    print(f'fixtures written under {HERE}')
