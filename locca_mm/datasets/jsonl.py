"""JsonlDataset: image–text pairs with regions, one JSON object per line."""
import json
import math
import os.path as osp
from typing import Any, Dict, List

from mmengine import fileio

from locca_mm.registry import DATASETS

from .base import LocCaBaseDataset, check_box, check_text, invalid, make_regions
from .vlm_formats import VLM_FORMATS, check_trainable, merge_by_image, parse_vlm_record

# A line longer than this is refused before it is parsed (a 100 MB line would
# otherwise stall the loader); deeply nested JSON hits Python's recursion limit
# and is refused as well.
MAX_LINE_BYTES = 1 << 20


def _check_size(value: Any, source: str, what: str):
    """An optional image side: None, or a positive finite number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value <= 0:
        raise invalid(source, f'"{what}" must be a positive number, got {value!r}')
    return value


def parse_record(obj: Any, source: str, img_prefix: str = '') -> Dict:
    """A data info from one JSONL/shard record (see :class:`JsonlDataset` for the format).

    Raises:
        InvalidRecordError: missing ``image``, a ``width``/``height`` that is
            not a positive number, a caption or region text that is
            empty or not a string, a malformed region, a box with w/h <= 0 or
            outside the image (when ``width``/``height`` are given), or nothing
            to train on (no caption and no region).
    """
    if not isinstance(obj, dict):
        raise invalid(source, f'a record must be a JSON object, got {type(obj).__name__}')
    if 'image' not in obj:
        raise invalid(source, 'missing key "image"')
    image = check_text(obj['image'], source, '"image"')
    width, height = (_check_size(obj.get(k), source, k) for k in ('width', 'height'))
    captions: List[str] = []
    if 'caption' in obj:
        captions.append(check_text(obj['caption'], source, 'caption'))
    if 'captions' in obj:
        if not isinstance(obj['captions'], list):
            raise invalid(source, '"captions" must be a list of strings')
        captions += [check_text(c, source, f'captions[{i}]')
                     for i, c in enumerate(obj['captions'])]
    raw_regions = obj.get('regions', [])
    if not isinstance(raw_regions, list):
        raise invalid(source, '"regions" must be a list')
    boxes, texts, scores = [], [], []
    for i, region in enumerate(raw_regions):
        where = f'region {i}'
        if not isinstance(region, dict) or 'bbox' not in region or 'text' not in region:
            raise invalid(source, f'{where} must be an object with "bbox" and "text"')
        boxes.append(check_box(region['bbox'], source, f'{where} bbox', width, height))
        texts.append(check_text(region['text'], source, f'{where} text'))
        score = region.get('score', 1.0)
        if not isinstance(score, (int, float)) or not 0.0 <= float(score) <= 1.0:
            raise invalid(source, f'{where} score must be a number in [0, 1], got {score!r}')
        scores.append(float(score))
    if not captions and not texts:
        raise invalid(source, 'no caption and no regions: nothing to train on')
    return dict(img_path=osp.join(img_prefix, image) if img_prefix else image, source=source,
                captions=captions, regions=make_regions(boxes, texts, scores))


def loads_line(raw: bytes, source: str) -> Any:
    """Decode one line (UTF-8, bounded size) into a JSON value."""
    if len(raw) > MAX_LINE_BYTES:
        raise invalid(source, f'line of {len(raw)} bytes exceeds {MAX_LINE_BYTES} bytes')
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as e:
        raise invalid(source, f'not UTF-8 text ({e.reason} at byte {e.start})') from None
    try:
        return json.loads(text)
    except RecursionError:
        raise invalid(source, 'JSON nested too deeply') from None
    except json.JSONDecodeError as e:
        raise invalid(source, f'malformed JSON: {e.msg} (column {e.colno})') from None


@DATASETS.register_module()
class JsonlDataset(LocCaBaseDataset):
    """Image–text pairs with regions, one JSON object per line::

        {"image": "rel/path.jpg", "caption": "...",
         "regions": [{"bbox": [x1, y1, x2, y2], "text": "...", "score": 0.87}],
         "width": 640, "height": 480}

    ``image`` is required; ``caption`` (or ``captions``, a list: several
    captions of one image, e.g. COCO's five, one drawn per step) and
    ``regions`` are optional, but a record needs one of them; ``score``
    defaults to 1; ``width``/``height`` (optional) let boxes be checked before
    the image is read. This is what ``tools/dataset_converters/pseudo_label.py --out`` writes, and
    the ``{key}.json`` of a shard (``tools/dataset_converters/make_shards.py``). Blank lines are
    ignored.

    ``format='paligemma'`` or ``'florence2'`` reads the JSONL files those models are
    fine-tuned on instead, ``{"image": "rel/path.jpg", "prefix": "detect cat ; dog",
    "suffix": "<loc0012><loc0034><loc0567><loc0890> cat ; ..."}``: captions, region
    captions and detections (:mod:`locca_mm.tokenizers.box_strings` lists the prompts
    read); a prompt it does not read is an invalid record. The records of one image
    become one sample (its captions and all its regions), and boxes become pixels once
    the image is decoded (``LoadRegions``), by the format's own decode
    (``BoxTokenizer(preset=...)``). ``docs/en/user_guides/data.md`` shows both.

    Args:
        ann_file (str): the ``.jsonl`` file.
        data_prefix (dict): ``img_path``: directory the image paths are relative to.
        format (str): 'locca' (default, the format above), 'paligemma' or 'florence2'.
        **kwargs: :class:`LocCaBaseDataset` arguments (``skip_invalid``, ``tokenizer``, ...).
    """

    def __init__(self, *args, format: str = 'locca', **kwargs):
        if format != 'locca' and format not in VLM_FORMATS:
            raise ValueError(f'JsonlDataset format must be "locca" or one of '
                             f'{sorted(VLM_FORMATS)}, got {format!r}')
        self.format = format
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        raw = fileio.get(self.ann_file, backend_args=getattr(self, 'backend_args', None))
        name = osp.basename(self.ann_file)
        prefix = self.data_prefix.get('img_path', '')

        def records():
            for lineno, line in enumerate(raw.split(b'\n'), start=1):
                if line.strip():
                    yield lineno, line

        def parse(item):
            lineno, line = item
            source = f'{name}:{lineno}'
            obj = loads_line(line, source)
            if self.format == 'locca':
                return parse_record(obj, source, prefix)
            return parse_vlm_record(obj, source, self.format, prefix)

        infos = self.parse_records(records(), parse)
        if self.format == 'locca':
            return infos
        return self.parse_records(merge_by_image(infos), check_trainable)
