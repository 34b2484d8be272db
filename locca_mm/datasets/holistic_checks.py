"""Find the record an mmpretrain reader failed on (its own errors do not name it).

Called only after a reader has raised, so a good dataset is read once.
:func:`first_bad_record` returns ``'<file>#<record> (<what is wrong>)'`` or
None when it cannot tell (the reader's own message is reported either way).
"""
import json
import os
import os.path as osp
import re
from typing import Callable, Dict, Iterable, Optional, Tuple

from mmengine import fileio

from .base import under_root

__all__ = ['first_bad_record']

Records = Iterable[Tuple[str, object]]


def _path(cfg: dict, key: str, default: str = '') -> str:
    return under_root(cfg.get(key) or default, cfg.get('data_root'))


def _load(path: str):
    try:
        return json.loads(fileio.get_text(path))
    except (OSError, ValueError):
        return None


def _missing(records: Records, keys: Tuple[str, ...]) -> Optional[str]:
    for where, rec in records:
        if not isinstance(rec, dict):
            return f'{where} (not a JSON object)'
        lost = [k for k in keys if k not in rec]
        if lost:
            return f'{where} (no {", ".join(repr(k) for k in lost)})'
    return None


def _json_list(cfg: dict, keys: Tuple[str, ...]) -> Optional[str]:
    path = _path(cfg, 'ann_file')
    data = _load(path)
    if not isinstance(data, list):
        return None
    return _missing(((f'{osp.basename(path)}#{i}', r) for i, r in enumerate(data)), keys)


def _coco_vqa(cfg: dict) -> Optional[str]:
    qpath, apath = _path(cfg, 'question_file'), _path(cfg, 'ann_file')
    questions = (_load(qpath) or {}).get('questions')
    if not isinstance(questions, list):
        return None
    qname = osp.basename(qpath)
    bad = _missing(((f'{qname}#{i}', q) for i, q in enumerate(questions)),
                   ('image_id', 'question', 'question_id'))
    if bad:
        return bad
    folder = _path(cfg, 'data_prefix')
    if osp.isdir(folder):
        ids = {int(m[-1]) for m in (re.findall(r'\d{12}', f) for f in os.listdir(folder)) if m}
        for i, q in enumerate(questions):
            if q['image_id'] not in ids:
                return f'{qname}#{i} (no image with image_id {q["image_id"]} in {folder})'
    anns = (_load(apath) or {}).get('annotations') if apath else None
    if isinstance(anns, list):
        aname = osp.basename(apath)
        if len(anns) != len(questions):
            return f'{aname} ({len(anns)} annotations for {len(questions)} questions)'
        for i, (q, a) in enumerate(zip(questions, anns)):
            if not isinstance(a, dict) or a.get('question_id') != q['question_id']:
                return f'{aname}#{i} (not the annotation of question {q["question_id"]})'
            if not all(isinstance(x, dict) and 'answer' in x for x in a.get('answers') or [0]):
                return f'{aname}#{i} (answers must be a list of {{"answer": ...}})'
    return None


def _ocr_vqa(cfg: dict) -> Optional[str]:
    path = _path(cfg, 'ann_file')
    data = _load(path)
    if not isinstance(data, dict):
        return None
    name = osp.basename(path)
    records = [(f'{name}#{k}', v) for k, v in data.items()]
    bad = _missing(records, ('imageURL', 'questions', 'answers', 'split', 'title',
                             'authorName', 'genre'))
    if bad:
        return bad
    for where, rec in records:
        if rec['split'] not in (1, 2, 3):
            return f'{where} (split {rec["split"]!r} is not 1, 2 or 3)'
    return None


def _flickr(cfg: dict) -> Optional[str]:
    path = _path(cfg, 'ann_file')
    images = (_load(path) or {}).get('images')
    if not isinstance(images, list):
        return None
    name = osp.basename(path)
    bad = _missing(((f'{name}#{i}', r) for i, r in enumerate(images)),
                   ('split', 'sentences', 'filename', 'imgid'))
    if bad:
        return bad
    return _missing(((f'{name}#{i} sentence {j}', s) for i, r in enumerate(images)
                     for j, s in enumerate(r['sentences'])), ('raw', ))


def _lines(cfg: dict, files: Dict[str, str], check: Callable[[str], Optional[str]]
           ) -> Optional[str]:
    split = cfg.get('split', next(iter(files)))
    if split not in files:
        return None
    path = osp.join(cfg.get('data_root') or '', files[split])
    try:
        lines = fileio.get_text(path).splitlines()
    except (OSError, ValueError):
        return None
    for i, line in enumerate(lines):
        reason = check(line)
        if reason:
            return f'{osp.basename(path)}#{i} ({reason}: {line!r})'
    return None


def _class_line(classes, name_of: Callable[[str], str]) -> Callable[[str], Optional[str]]:
    def check(line: str) -> Optional[str]:
        name = name_of(line)
        return None if name in classes else f'unknown class {name!r}'
    return check


def _pets_line(line: str) -> Optional[str]:
    parts = line.split()
    if len(parts) != 4 or not parts[1].isdigit():
        return 'expected "<image> <class id> <species> <breed id>"'
    return None


def first_bad_record(reader_type: str, cfg: dict) -> Optional[str]:
    """The first record of ``cfg``'s files that mmpretrain's ``reader_type`` cannot read."""
    from mmpretrain.datasets import categories as cats
    checks = {
        'COCOVQA': lambda: _coco_vqa(cfg),
        'GQA': lambda: _json_list(cfg, ('image', 'question', 'answer')),
        'COCOCaption': lambda: _json_list(cfg, ('image', 'caption')),
        'OCRVQA': lambda: _ocr_vqa(cfg),
        'Flickr30kCaption': lambda: _flickr(cfg),
        'Food101': lambda: _lines(cfg, dict(train='meta/train.txt', test='meta/test.txt'),
                                  _class_line(cats.FOOD101_CATEGORIES,
                                              lambda s: s.split('/')[0])),
        'SUN397': lambda: _lines(
            cfg, dict(train='Partitions/Training_01.txt', test='Partitions/Testing_01.txt'),
            _class_line(cats.SUN397_CATEGORIES, lambda s: '_'.join(s.split('/')[2:-1]))),
        'OxfordIIITPet': lambda: _lines(
            cfg, dict(trainval='annotations/trainval.txt', test='annotations/test.txt'),
            _pets_line),
    }
    check = checks.get(reader_type)
    return check() if check else None
