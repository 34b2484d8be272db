"""Pseudo-labelling of image–text pairs with an open-vocabulary detector.

The LocCa data recipe: the alt-text of a web image is cut into n-grams, the
n-grams (plus an optional category list) are the text queries of an
open-vocabulary detector (OWL-ViT in the paper), and every detected box with a
score ≥ 0.3 becomes a region ``{"bbox": [x1, y1, x2, y2], "text": query,
"score": s}`` of the image's JSONL record::

    {"image": "rel/path.jpg", "caption": "...", "regions": [{"bbox": [...], ...}]}

- :func:`extract_queries` turns a caption into detector queries.
- :class:`OpenVocabDetector` is what a detector offers; :class:`OwlViTDetector`
  (HuggingFace OWL-ViT / OWLv2) and :class:`MMDetGroundingDetector` (an mmdet
  GroundingDINO/GLIP config) implement it (in :mod:`.open_vocab_detectors`, re-exported
  here).
- :class:`PseudoLabeler` thresholds, suppresses, clips and formats detections.
- :func:`read_pairs` reads the pairs to label (JSONL or COCO captions).

``tools/dataset_converters/pseudo_label.py`` is the command line around these.
"""
import json
import re
import warnings
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .open_vocab_detectors import (
    Detections,
    MMDetGroundingDetector,
    OpenVocabDetector,
    OwlViTDetector,
)

__all__ = [
    'STOPWORDS', 'extract_queries', 'Detections', 'OpenVocabDetector', 'OwlViTDetector',
    'MMDetGroundingDetector', 'PseudoLabeler', 'read_pairs'
]

#: English words that carry no object: an n-gram that begins or ends with one of
#: these is not a useful detector query ("the dog" is kept as "dog").
STOPWORDS = frozenset('''
a an the this that these those some any each every no another
i me my mine we us our ours you your yours he him his she her hers it its
they them their theirs what which who whom whose myself itself themselves
is are was were be been being am has have had having do does did doing
will would shall should can could may might must
and or but nor so yet if then than because while as though although
of in on at by for with without from to into onto over under above below
up down out off about through across along around between among behind
near beside after before during against toward towards upon via per
there here where when why how very too just also not only own same such
it's i'm we're they're you're he's she's that's there's isn't aren't
don't doesn't can't
'''.split())

# A word: letters, digits, apostrophes and hyphens. Anything else separates words,
# and punctuation other than spaces also ends a phrase (see _phrases).
_WORD = re.compile(r"(?:[^\W_]|['\-])+")
# Phrases are separated by punctuation: n-grams never span "red car, blue sky".
_PHRASE_BREAK = re.compile(r"[^\w\s'\-]|_")


def _phrases(text: str) -> List[List[str]]:
    """Lower-cased words of ``text``, grouped into punctuation-free phrases."""
    phrases = []
    for chunk in _PHRASE_BREAK.split(text.lower()):
        # Quotes and dashes around a word ("'big'", "-dog-") are not part of it.
        words = [w.strip("'-") for w in _WORD.findall(chunk)]
        words = [w for w in words if w]
        if words:
            phrases.append(words)
    return phrases


def _is_number(word: str) -> bool:
    """``'42'``, ``'1-2'``; not ``'3d'`` or ``'1990s'``."""
    digits = word.replace('-', '').replace("'", '')
    return digits.isdigit()


def extract_queries(text: str,
                    max_n: int = 3,
                    stopwords: Optional[Iterable[str]] = None,
                    categories: Sequence[str] = (),
                    max_queries: Optional[int] = None) -> List[str]:
    """Detector queries of a caption: its content n-grams, then ``categories``.

    Args:
        text (str): The caption (alt-text).
        max_n (int): Longest n-gram, in words.
        stopwords (Iterable[str], optional): Words an n-gram may not begin or
            end with. ``None`` means :data:`STOPWORDS`.
        categories (Sequence[str]): Queries added to every caption (lower-cased,
            de-duplicated against the n-grams).
        max_queries (int, optional): Keep at most this many queries.

    Returns:
        list[str]: Queries, in order of appearance: for every word, the n-grams
        starting there from shortest to longest; then the categories. N-grams
        that begin or end with a stop word, and n-grams of numbers only, are
        dropped; duplicates keep their first place. N-grams do not span
        punctuation (a comma, a full stop), only spaces.
    """
    if max_n < 1:
        raise ValueError(f'max_n must be >= 1, got {max_n}')
    stop = STOPWORDS if stopwords is None else frozenset(w.lower() for w in stopwords)
    queries: Dict[str, None] = {}  # an ordered set
    for words in _phrases(text):
        for start in range(len(words)):
            for n in range(1, min(max_n, len(words) - start) + 1):
                gram = words[start:start + n]
                if gram[0] in stop or gram[-1] in stop:
                    continue
                if all(_is_number(w) for w in gram):
                    continue
                queries.setdefault(' '.join(gram), None)
    for category in categories:
        category = ' '.join(category.lower().split())
        if category:
            queries.setdefault(category, None)
    result = list(queries)
    return result if max_queries is None else result[:max_queries]


def _nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> np.ndarray:
    """Indices kept by class-agnostic NMS, best score first (mmcv's kernel)."""
    from mmcv.ops import nms  # compiled ops load only when labelling

    _, keep = nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou_thr)
    return keep.numpy()


class PseudoLabeler:
    """Regions of images from their captions: queries → detector → filtered boxes.

    Args:
        detector (OpenVocabDetector): Finds the queries in the images.
        score_thr (float): Keep boxes scoring at least this (0.3 in the paper).
        nms_iou (float): Class-agnostic NMS IoU threshold; ``>= 1`` disables NMS.
        max_n (int): Longest query n-gram, in words.
        categories (Sequence[str]): Queries added to every caption.
        max_queries (int): Queries per image, at most.
        max_regions (int): Regions per image, at most (the best-scoring ones).
        stopwords (Iterable[str], optional): See :func:`extract_queries`.

    Boxes are clipped to the image before NMS, so overlap is measured on what
    is visible; a box narrower or lower than 1 pixel after clipping is dropped.
    """

    def __init__(self,
                 detector: OpenVocabDetector,
                 score_thr: float = 0.3,
                 nms_iou: float = 0.5,
                 max_n: int = 3,
                 categories: Sequence[str] = (),
                 max_queries: int = 64,
                 max_regions: int = 32,
                 stopwords: Optional[Iterable[str]] = None):
        self.detector = detector
        self.score_thr = score_thr
        self.nms_iou = nms_iou
        self.max_n = max_n
        self.categories = tuple(categories)
        self.max_queries = max_queries
        self.max_regions = max_regions
        self.stopwords = stopwords

    def queries(self, caption: str) -> List[str]:
        """The detector queries of one caption."""
        return extract_queries(caption, self.max_n, self.stopwords, self.categories,
                               self.max_queries)

    def label(self, images: List[np.ndarray], captions: List[str]) -> List[List[dict]]:
        """Regions of each image, best score first.

        Args:
            images (list[np.ndarray]): ``[H, W, 3]`` RGB uint8 images.
            captions (list[str]): One caption per image.

        Returns:
            list[list[dict]]: Per image, ``{"bbox": [x1, y1, x2, y2], "text": str,
            "score": float}`` dicts: bbox in image pixels rounded to 2 decimals,
            score rounded to 4.
        """
        if len(images) != len(captions):
            raise ValueError(f'{len(images)} images but {len(captions)} captions')
        queries = [self.queries(c) for c in captions]
        detections = self.detector.detect(images, queries)
        return [self._regions(det, q, img.shape[:2])
                for det, q, img in zip(detections, queries, images)]

    def _regions(self, det: Detections, queries: List[str],
                 image_shape: Tuple[int, int]) -> List[dict]:
        """Threshold, clip, drop slivers, NMS and cap one image's detections."""
        height, width = image_shape
        boxes = np.asarray(det.boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(det.scores, np.float32).reshape(-1)
        labels = np.asarray(det.labels, np.int64).reshape(-1)
        keep = scores >= self.score_thr
        boxes = boxes[keep].copy()
        scores, labels = scores[keep], labels[keep]
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        keep = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        if len(scores) and self.nms_iou < 1:
            order = _nms(boxes, scores, self.nms_iou)
        else:
            order = np.argsort(-scores, kind='stable')
        return [{
            'bbox': [round(float(v), 2) for v in boxes[k]],
            'text': queries[labels[k]],
            'score': round(float(scores[k]), 4),
        } for k in order[:self.max_regions]]


def read_pairs(path: str) -> Iterator[Tuple[str, str, str]]:
    """Image–caption pairs of a JSONL file or a COCO captions json.

    A ``.json`` file is read as COCO captions (``images`` with ``id`` and
    ``file_name``, ``annotations`` with ``image_id`` and ``caption``): one pair
    per image in ``images`` order, with the image's FIRST caption in file
    order (COCO has about five per image; one caption keeps one record per
    image). Images without a caption are skipped with a warning that counts
    them. Any other file is JSONL: one ``{"image": ..., "caption": ...}``
    object per non-blank line; existing ``"regions"`` are ignored.

    Yields:
        tuple[str, str, str]: ``(image path relative to the image root,
        caption, source)``, where source names the record (``file:line`` for
        JSONL, ``file:images[i]`` for COCO) for error messages.

    Raises:
        ValueError: A malformed record; the message names file and line/record.
    """
    if path.endswith('.json'):
        yield from _read_coco_captions(path)
    else:
        yield from _read_jsonl_pairs(path)


def _read_jsonl_pairs(path: str) -> Iterator[Tuple[str, str, str]]:
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            source = f'{path}:{lineno}'
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f'{source}: not valid JSON ({e.msg})') from e
            if not isinstance(record, dict):
                raise ValueError(f'{source}: expected a JSON object, got {type(record).__name__}')
            image = _field(record, 'image', source)
            yield image, _field(record, 'caption', source, allow_empty=True), source


def _field(record: dict, key: str, source: str, allow_empty: bool = False) -> str:
    """``record[key]``, which must be a (non-empty) string."""
    value = record.get(key)
    if not isinstance(value, str) or not (value or allow_empty):
        raise ValueError(f'{source}: "{key}" must be a {"" if allow_empty else "non-empty "}'
                         f'string, got {value!r}')
    return value


def _read_coco_captions(path: str) -> Iterator[Tuple[str, str, str]]:
    with open(path, encoding='utf-8') as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{path}:{e.lineno}: not valid JSON ({e.msg})') from e
    if not isinstance(data, dict) or not isinstance(data.get('images'), list) \
            or not isinstance(data.get('annotations'), list):
        raise ValueError(f'{path}: not a COCO captions file (needs "images" and "annotations" '
                         'lists; use .jsonl for one pair per line)')
    first_caption: Dict[Any, str] = {}
    for k, ann in enumerate(data['annotations']):
        source = f'{path}:annotations[{k}]'
        if not isinstance(ann, dict) or 'image_id' not in ann:
            raise ValueError(f'{source}: needs "image_id" and "caption"')
        first_caption.setdefault(ann['image_id'],
                                 _field(ann, 'caption', source, allow_empty=True))
    uncaptioned = 0
    for k, image in enumerate(data['images']):
        source = f'{path}:images[{k}]'
        if not isinstance(image, dict) or 'id' not in image:
            raise ValueError(f'{source}: needs "id" and "file_name"')
        file_name = _field(image, 'file_name', source)
        if image['id'] not in first_caption:
            uncaptioned += 1
            continue
        yield file_name, first_caption[image['id']], source
    if uncaptioned:
        warnings.warn(f'{path}: {uncaptioned} images without a caption skipped',
                      stacklevel=2)
