"""Write the tiny holistic-transfer fixtures under tests/data/holistic/ (deterministic).

    python tests/data/make_holistic_fixtures.py

Each directory is one benchmark in the layout mmpretrain 1.2's reader expects,
named as the ``data_root`` of its config under configs/_base_/datasets/ (the
config runs swap ``data/`` for ``tests/data/holistic/``):

- ``imagenet/``: ``ImageNet`` — ``train/``, ``val/`` listed in ``meta/{train,val}.txt``;
- ``sun397/``: ``SUN397`` — ``SUN397/<letter>/<class>[/<sub>]/*.jpg`` and
  ``Partitions/{Training,Testing}_01.txt``;
- ``food-101/``: ``Food101`` — ``images/<class>/*.jpg``, ``meta/{train,test}.txt``;
- ``resisc45/``: ``CustomDataset`` — class folders ``{train,test}/<class>/*.jpg``;
- ``oxford-iiit-pet/``: ``OxfordIIITPet`` — ``images/``, ``annotations/{trainval,test}.txt``;
- ``coco/``: ``COCOCaption`` (Karpathy split json of LAVIS:
  ``annotations/coco_karpathy_{train,val,test}.json``) and ``COCOVQA`` (VQAv2
  ``v2_OpenEnded_mscoco_*_questions.json`` + ``v2_mscoco_*_annotations.json``)
  over ``train2014/`` and ``val2014/``;
- ``flickr30k/``: ``Flickr30kCaption`` — Karpathy's ``dataset_flickr30k.json``;
- ``gqa/``: ``GQA`` — LAVIS's ``{train,testdev}_balanced_questions.json``, ``images/``;
- ``ocr-vqa/``: ``OCRVQA`` — ``dataset.json`` (split 1/2/3), ``images/<id>.jpg``.

The images are a few tiny JPEGs (a coloured disc), the same bytes reused.
"""
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np

HERE = osp.join(osp.dirname(osp.abspath(__file__)), 'holistic')
COLOURS = [(40, 40, 220), (60, 180, 60), (220, 90, 40), (30, 200, 220)]


def jpeg(i: int) -> bytes:
    img = np.full((24, 24, 3), 70, dtype=np.uint8)
    cv2.circle(img, (12, 12), 8, COLOURS[i % len(COLOURS)], -1)
    ok, buf = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    return buf.tobytes()


def write(rel: str, data) -> None:
    path = osp.join(HERE, rel)
    os.makedirs(osp.dirname(path), exist_ok=True)
    if isinstance(data, bytes):
        with open(path, 'wb') as f:
            f.write(data)
    else:
        with open(path, 'w', encoding='utf-8') as f:
            f.write(data if isinstance(data, str) else json.dumps(data, indent=1))


def lines(*rows: str) -> str:
    return '\n'.join(rows) + '\n'


def classification():
    # ImageNet: class indices 0 (tench), 1 (goldfish), 744 and 836 (renamed, see holistic.py).
    for split, rows in (('train', [('a.jpg', 0), ('b.jpg', 1), ('c.jpg', 744)]),
                        ('val', [('ILSVRC2012_val_00000001.JPEG', 836),
                                 ('ILSVRC2012_val_00000002.JPEG', 1)])):
        for i, (name, _) in enumerate(rows):
            write(f'imagenet/{split}/{name}', jpeg(i))
        write(f'imagenet/meta/{split}.txt', lines(*(f'{n} {k}' for n, k in rows)))
    sun = {'Training_01.txt': ['/a/abbey/sun_aa.jpg', '/a/apartment_building/outdoor/sun_ab.jpg'],
           'Testing_01.txt': ['/a/abbey/sun_ba.jpg', '/b/bakery/shop/sun_bb.jpg']}
    for part, rows in sun.items():
        for i, row in enumerate(rows):
            write(f'sun397/SUN397{row}', jpeg(i))
        write(f'sun397/Partitions/{part}', lines(*rows))
    food = {'train': ['apple_pie/101', 'baby_back_ribs/102', 'ice_cream/103'],
            'test': ['apple_pie/201', 'ice_cream/202']}
    for split, rows in food.items():
        for i, row in enumerate(rows):
            write(f'food-101/images/{row}.jpg', jpeg(i))
        write(f'food-101/meta/{split}.txt', lines(*rows))
    for split, names in (('train', ['airplane/airplane_001', 'baseball_diamond/bd_001',
                                    'beach/beach_001']),
                         ('test', ['airplane/airplane_002', 'baseball_diamond/bd_002',
                                   'beach/beach_002'])):
        for i, name in enumerate(names):
            write(f'resisc45/{split}/{name}.jpg', jpeg(i))
    # Oxford-IIIT Pet lines: <image> <class id 1..37> <species 1 cat / 2 dog> <breed id>.
    pets = {'trainval.txt': ['Abyssinian_1 1 1 1', 'american_bulldog_10 2 2 1',
                             'Maine_Coon_3 21 1 6'],
            'test.txt': ['Abyssinian_2 1 1 1', 'german_shorthaired_4 15 2 8']}
    for name, rows in pets.items():
        for i, row in enumerate(rows):
            write(f'oxford-iiit-pet/images/{row.split()[0]}.jpg', jpeg(i))
        write(f'oxford-iiit-pet/annotations/{name}', lines(*rows))


COCO_IMAGES = {'train2014': [9, 25, 30], 'val2014': [42, 73]}
CAPTIONS = {9: ['a plate of food on a table', 'some food on a plate'],
            25: ['a giraffe next to a tree'], 30: ['a vase with flowers', 'white flowers'],
            42: ['a red umbrella in the rain', 'a person holds an umbrella'],
            73: ['a motorcycle parked on the street', 'a parked motorbike']}


def coco_image(split: str, image_id: int) -> str:
    return f'{split}/COCO_{split}_{image_id:012d}.jpg'


def coco():
    for split, ids in COCO_IMAGES.items():
        for i, image_id in enumerate(ids):
            write(f'coco/{coco_image(split, image_id)}', jpeg(i))
    # Karpathy train: one record per caption; val/test: one per image with all captions.
    write('coco/annotations/coco_karpathy_train.json', [
        dict(image=coco_image('train2014', k), caption=c, image_id=f'coco_{k}')
        for k in COCO_IMAGES['train2014'] for c in CAPTIONS[k]])
    for name in ('val', 'test'):
        write(f'coco/annotations/coco_karpathy_{name}.json', [
            dict(image=coco_image('val2014', k), caption=CAPTIONS[k])
            for k in COCO_IMAGES['val2014']])
    qa = {'train2014': [(9, 'what is on the plate?', ['food'] * 7 + ['pizza'] * 3),
                        (25, 'what animal is this?', ['giraffe'] * 10),
                        (30, 'how many flowers are there?', ['3'] * 6 + ['three'] * 2
                         + ['4'] * 2)],
          'val2014': [(42, 'what colour is the umbrella?', ['red'] * 9 + ['orange']),
                      (73, 'is the motorcycle moving?', ['no'] * 8 + ['yes'] * 2)]}
    for split, rows in qa.items():
        questions, annotations = [], []
        for n, (image_id, question, answers) in enumerate(rows):
            qid = image_id * 1000 + n
            questions.append(dict(image_id=image_id, question=question, question_id=qid))
            annotations.append(dict(
                question_type='what', answer_type='other', image_id=image_id, question_id=qid,
                multiple_choice_answer=answers[0],
                answers=[dict(answer=a, answer_confidence='yes', answer_id=j + 1)
                         for j, a in enumerate(answers)]))
        write(f'coco/annotations/v2_OpenEnded_mscoco_{split}_questions.json',
              dict(questions=questions, data_subtype=split))
        write(f'coco/annotations/v2_mscoco_{split}_annotations.json',
              dict(annotations=annotations, data_subtype=split))


def flickr30k():
    images = []
    for i, (split, caps) in enumerate([('train', ['two dogs run on grass', 'dogs playing']),
                                       ('train', ['a man rides a bike']),
                                       ('val', ['a child with a kite', 'kite flying']),
                                       ('test', ['a woman sings on stage', 'a singer'])]):
        name = f'{1000 + i}.jpg'
        write(f'flickr30k/flickr30k-images/{name}', jpeg(i))
        images.append(dict(filename=name, imgid=i, split=split, sentids=[],
                           sentences=[dict(raw=c, imgid=i, sentid=10 * i + j,
                                           tokens=c.split()) for j, c in enumerate(caps)]))
    write('flickr30k/dataset_flickr30k.json', dict(images=images, dataset='flickr30k'))


def gqa():
    rows = {'train': [('n1.jpg', 'Is the sky blue?', 'yes'),
                      ('n2.jpg', 'What is on the table?', 'cup')],
            'testdev': [('n3.jpg', 'Which color is the car?', 'red'),
                        ('n1.jpg', 'Is it overcast?', 'no')]}
    for i, name in enumerate(['n1.jpg', 'n2.jpg', 'n3.jpg']):
        write(f'gqa/images/{name}', jpeg(i))
    for split, items in rows.items():
        write(f'gqa/{split}_balanced_questions.json', [
            dict(image=img, question=q, answer=a, question_id=f'{split}{i}')
            for i, (img, q, a) in enumerate(items)])


def ocr_vqa():
    books = {'111': (1, 'Sandra Boynton', 'Moo Baa La La La', 'Children\'s Books'),
             '222': (1, 'Jane Doe', 'Cooking Basics', 'Cookbooks'),
             '333': (2, 'Ann Poe', 'Garden Birds', 'Science'),
             '444': (3, 'John Roe', 'Calendar 2016', 'Calendars')}
    data = {}
    for i, (key, (split, author, title, genre)) in enumerate(books.items()):
        write(f'ocr-vqa/images/{key}.jpg', jpeg(i))
        data[key] = dict(imageURL=f'http://example.com/images/{key}.jpg',
                         questions=['Who wrote this book?', 'What is the title of this book?',
                                    'What is the genre of this book?'],
                         answers=[author, title, genre], title=title, authorName=author,
                         genre=genre, split=split)
    write('ocr-vqa/dataset.json', data)


if __name__ == '__main__':
    shutil.rmtree(HERE, ignore_errors=True)
    classification()
    coco()
    flickr30k()
    gqa()
    ocr_vqa()
    print(f'holistic fixtures written under {HERE}')
