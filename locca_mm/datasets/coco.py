"""CocoCaptionDataset: COCO captions joined with COCO instances."""
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional

from mmengine import fileio

from locca_mm.registry import DATASETS

from .base import LocCaBaseDataset, check_box, check_text, invalid, make_regions, under_root


def load_json(path: str, backend_args: Optional[dict] = None) -> dict:
    """A JSON file through mmengine's file backends, with errors that name it."""
    try:
        return json.loads(fileio.get(path, backend_args=backend_args))
    except FileNotFoundError:
        raise FileNotFoundError(f'annotation file not found: {path}') from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise invalid(path, f'not a valid JSON file: {e}') from None


@DATASETS.register_module()
class CocoCaptionDataset(LocCaBaseDataset):
    """COCO images with their captions and, optionally, their objects as regions.

    One sample per image. Captions come from ``captions_*.json``; with
    ``instances_file``, every non-crowd object of ``instances_*.json`` becomes
    a region (text: its category name, score 1.0), so the same images train
    ARef and GCap too. An ``ann_file`` that is itself an instances file (it
    has ``categories``) and no ``instances_file`` gives the objects alone, no
    captions (detection: training on every image with a non-crowd object,
    testing on every image). In test mode each sample is an ``eval_task``
    prediction: ``'cap'`` with all of the image's captions as references.

    Args:
        ann_file (str): ``captions_*.json``, or ``instances_*.json`` (objects only).
        instances_file (str, optional): ``instances_*.json`` of the same split
            (relative to ``data_root``).
        data_prefix (dict): ``img_path``: the image directory.
        eval_task (str): the prediction of a test-mode sample: ``'cap'``
            (captions, scored by ``CaptionMetric``), ``'detect'`` or
            ``'detect_seq'`` (grounded captioning scored as detection by
            ``GroundedCaptionDetMetric``; needs the instances) or ``'caption_nll'``
            (the perplexity of the image's captions, ``CaptionPerplexityMetric``:
            evaluation while pretraining). Defaults to ``'cap'``.
        **kwargs: :class:`LocCaBaseDataset` arguments.
    """

    def __init__(self, *args, instances_file: Optional[str] = None, eval_task: str = 'cap',
                 **kwargs):
        if eval_task not in ('cap', 'detect', 'detect_seq', 'caption_nll'):
            raise ValueError(f"eval_task must be 'cap', 'detect', 'detect_seq' or "
                             f"'caption_nll', got {eval_task!r}")
        self.instances_file = instances_file
        self.eval_task = eval_task
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        name = osp.basename(self.ann_file)
        data = load_json(self.ann_file)
        for key in ('images', 'annotations'):
            if key not in data:
                raise invalid(name, f'missing key "{key}": is it a COCO captions file?')
        images: Dict[int, dict] = {img['id']: img for img in data['images']}
        objects_only = 'categories' in data and not self.instances_file
        captions = defaultdict(list)
        for ann in [] if objects_only else data['annotations']:
            captions[ann.get('image_id')].append(ann)
        regions, categories = self._load_instances(data if objects_only else None)
        prefix = self.data_prefix.get('img_path', '')

        def parse(image_id):
            img = images[image_id]
            source = f'{name}#image_id={image_id}'
            if 'file_name' not in img:
                raise invalid(source, 'image entry without "file_name"')
            caps = [check_text(a.get('caption'), f'{source} ann {a.get("id")}', 'caption')
                    for a in captions.get(image_id, [])]
            boxes, texts = [], []
            for ann in regions.get(image_id, []):
                where = f'{source} instance {ann.get("id")}'
                if ann.get('category_id') not in categories:
                    raise invalid(where, f'unknown category_id {ann.get("category_id")}')
                x, y, w, h = ann['bbox']
                boxes.append(check_box([x, y, x + w, y + h], where, 'bbox', img.get('width'),
                                       img.get('height')))
                texts.append(categories[ann['category_id']])
            if not caps and not texts and not (objects_only and self.test_mode):
                return None  # an image nobody described (detection tests every image)
            info = dict(img_path=osp.join(prefix, img['file_name']), source=source,
                        captions=caps, regions=make_regions(boxes, texts), img_id=image_id,
                        width=img.get('width'), height=img.get('height'))
            if self.test_mode:
                info['task'] = self.eval_task
            return info

        return self.parse_records(sorted(images), parse)

    def _load_instances(self, inst: Optional[dict] = None):
        """(image id -> non-crowd objects, category id -> name) of ``inst`` (an instances
        file already read) or of ``instances_file``; empty without either."""
        regions, categories = defaultdict(list), {}
        if inst is None and self.instances_file:
            inst = load_json(under_root(self.instances_file, self.data_root))
        if inst is None:
            return regions, categories
        categories = {c['id']: c['name'] for c in inst.get('categories', [])}
        # mmdet's CocoMetric reads the class names (in category-id order) from here.
        self._metainfo['classes'] = tuple(categories[k] for k in sorted(categories))
        for ann in inst.get('annotations', []):
            if not ann.get('iscrowd', 0):
                regions[ann.get('image_id')].append(ann)
        return regions, categories
