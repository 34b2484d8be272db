"""PaliGemma- and Florence-2-style JSONL records (``image``, ``prefix``, ``suffix``) in and out.

A record's location tokens are normalised to its image, so a record read here keeps
its regions as bins (``regions['bins']`` and ``regions['box_preset']``) until the
image is decoded: :class:`~locca_mm.datasets.transforms.LoadRegions` turns them
into pixels (:func:`regions_in_pixels`) with the preset's own decode. The strings
themselves are read by :mod:`locca_mm.tokenizers.box_strings`.
"""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from locca_mm.tokenizers import BoxTokenizer
from locca_mm.tokenizers.box_strings import (
    BoxStringError,
    format_florence2,
    format_paligemma,
    parse_florence2,
    parse_paligemma,
)

from .base import check_text, invalid

__all__ = ['VLM_FORMATS', 'parse_vlm_record', 'merge_by_image', 'check_trainable',
           'regions_in_pixels',
           'to_vlm_records']

#: format name -> (reader of a prefix/suffix pair, writer)
VLM_FORMATS = {'paligemma': (parse_paligemma, format_paligemma),
               'florence2': (parse_florence2, format_florence2)}


def _check_format(fmt: str) -> None:
    if fmt not in VLM_FORMATS:
        raise ValueError(f'format must be one of {sorted(VLM_FORMATS)}, got {fmt!r}')


def parse_vlm_record(obj: Any, source: str, fmt: str, img_prefix: str = '') -> Dict:
    """A data info from one ``{"image", "prefix", "suffix"}`` record of format ``fmt``.

    Its regions hold ``bins`` ``[N, 4]`` (int64, in the preset's order) and
    ``box_preset`` instead of ``bboxes``; captions and texts as any data info.

    Raises:
        InvalidRecordError: a missing or non-string ``image``/``prefix``/``suffix``,
            or a prefix/suffix that does not read (the message says what, after the
            record's ``source``).
    """
    _check_format(fmt)
    if not isinstance(obj, dict):
        raise invalid(source, f'a record must be a JSON object, got {type(obj).__name__}')
    for key in ('image', 'prefix', 'suffix'):
        if key not in obj:
            raise invalid(source, f'missing key "{key}" (a {fmt} record has image, prefix, '
                          'suffix)')
        if not isinstance(obj[key], str):
            raise invalid(source, f'"{key}" must be a string, got {type(obj[key]).__name__}')
    image = check_text(obj['image'], source, '"image"')
    try:
        parsed = VLM_FORMATS[fmt][0](obj['prefix'], obj['suffix'])
    except BoxStringError as e:
        raise invalid(source, f'{fmt} prefix {obj["prefix"]!r}: {e}') from None
    regions = dict(texts=parsed.texts, scores=np.ones(len(parsed.texts), dtype=np.float32),
                   bins=np.asarray(parsed.bins, dtype=np.int64).reshape(-1, 4),
                   box_preset=fmt)
    return dict(img_path=osp.join(img_prefix, image) if img_prefix else image,
                source=source, captions=parsed.captions, regions=regions)


def merge_by_image(infos: Sequence[Dict]) -> List[Dict]:
    """One data info per image: the captions and regions of its records, in file order.

    The merged ``source`` names every record (``'train.jsonl:3+9'``).
    """
    merged: Dict[str, Dict] = {}
    for info in infos:
        into = merged.get(info['img_path'])
        if into is None:
            merged[info['img_path']] = dict(info, captions=list(info['captions']),
                                            regions=dict(info['regions']))
            continue
        a, b = into['regions'], info['regions']
        into['source'] += '+' + info['source'].rsplit(':', 1)[-1]
        into['captions'] += info['captions']
        into['regions'] = dict(a, texts=a['texts'] + b['texts'],
                               scores=np.concatenate([a['scores'], b['scores']]),
                               bins=np.concatenate([a['bins'], b['bins']]))
    return list(merged.values())


def check_trainable(info: Dict) -> Dict:
    """``info`` if it has a caption or a region, else :class:`InvalidRecordError`."""
    if not info['captions'] and not info['regions']['texts']:
        raise invalid(info['source'], 'no caption and no regions: nothing to train on')
    return info


def regions_in_pixels(regions: Dict, img_shape) -> Dict:
    """``regions`` with ``bboxes`` (``[N, 4]`` float32 xyxy pixels of an image of
    ``img_shape = (h, w)``) decoded from their ``bins`` by the ``box_preset``'s
    :class:`BoxTokenizer`; regions that already have ``bboxes`` come back as they are."""
    if 'bins' not in regions:
        return regions
    tok = BoxTokenizer(preset=regions['box_preset'])
    bins = np.asarray(regions['bins'], dtype=np.int64).reshape(-1, 4)
    bboxes = tok.decode(bins, tuple(img_shape[:2])).numpy() if len(bins) else \
        np.zeros((0, 4), dtype=np.float32)
    out = {k: v for k, v in regions.items() if k not in ('bins', 'box_preset')}
    return dict(out, bboxes=bboxes)


def to_vlm_records(info: Dict, img_shape, fmt: str, lang: str = 'en',
                   image: Optional[str] = None) -> List[Dict[str, str]]:
    """The ``{"image", "prefix", "suffix"}`` records of a data info, for export.

    One record per caption, and one detection record (PaliGemma ``detect``,
    Florence-2 ``<OD>``) holding every region; boxes are quantised by the format's
    preset against ``img_shape = (h, w)``, the size of the image the boxes are in.

    Args:
        info (dict): a data info (``captions``; ``regions`` in pixels or in bins).
        img_shape (tuple): ``(h, w)`` of the image.
        fmt (str): 'paligemma' or 'florence2'.
        lang (str): PaliGemma's caption language. Defaults to 'en'.
        image (str, optional): the ``image`` written; defaults to ``info['img_path']``.

    Raises:
        BoxStringError: a text the format cannot spell (``;`` in a PaliGemma name,
            angle brackets).
    """
    _check_format(fmt)
    write = VLM_FORMATS[fmt][1]
    image = image if image is not None else info['img_path']
    extra = dict(lang=lang) if fmt == 'paligemma' else {}
    records = [write(caption=c, **extra) for c in info.get('captions', [])]
    regions = regions_in_pixels(info.get('regions') or dict(texts=[]), img_shape)
    if regions['texts']:
        bins = BoxTokenizer(preset=fmt).encode(np.asarray(regions['bboxes'], np.float64),
                                               tuple(img_shape[:2]))
        records.append(write(regions['texts'], bins.tolist()))
    return [dict(image=image, prefix=p, suffix=s) for p, s in records]
