"""VisualGenomeDataset: Visual Genome region descriptions."""
import os.path as osp
from typing import List, Optional

from locca_mm.registry import DATASETS

from .base import LocCaBaseDataset, check_box, check_text, invalid, make_regions, under_root
from .coco import load_json


@DATASETS.register_module()
class VisualGenomeDataset(LocCaBaseDataset):
    """Visual Genome images with their region descriptions (phrase + box).

    Reads ``region_descriptions.json`` (a list of ``{"id", "regions": [{"x",
    "y", "width", "height", "phrase", ...}]}``) and ``image_data.json`` (sizes
    and the image path, taken from the last two parts of ``url``, e.g.
    ``VG_100K/1.jpg``). Visual Genome has no captions: its samples train ARef
    and GCap only.

    Args:
        ann_file (str): ``region_descriptions.json``.
        image_data_file (str): ``image_data.json`` (relative to ``data_root``).
        data_prefix (dict): ``img_path``: the directory holding ``VG_100K*/``.
        min_region_size (float): regions smaller than this (w or h, pixels)
            are left out on purpose (VG has many 1-px regions). Defaults to 1.
    """

    def __init__(self, *args, image_data_file: str = 'image_data.json',
                 min_region_size: float = 1.0, **kwargs):
        self.image_data_file = image_data_file
        self.min_region_size = min_region_size
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        name = osp.basename(self.ann_file)
        regions = load_json(self.ann_file)
        path = under_root(self.image_data_file, self.data_root)
        images = {img.get('image_id', img.get('id')): img for img in load_json(path)}
        prefix = self.data_prefix.get('img_path', '')

        def parse(entry) -> Optional[dict]:
            image_id = entry.get('id', entry.get('image_id'))
            source = f'{name}#id={image_id}'
            img = images.get(image_id)
            if img is None:
                raise invalid(source, f'image {image_id} is not in {osp.basename(path)}')
            url = img.get('url', '')
            rel = '/'.join(url.split('/')[-2:]) if url else f'{image_id}.jpg'
            boxes, texts = [], []
            for r in entry.get('regions', []):
                where = f'{source} region {r.get("region_id")}'
                try:
                    x, y, w, h = (float(r[k]) for k in ('x', 'y', 'width', 'height'))
                except (KeyError, TypeError, ValueError):
                    raise invalid(where, 'needs numeric x, y, width, height') from None
                if w < self.min_region_size or h < self.min_region_size:
                    continue
                boxes.append(check_box([x, y, x + w, y + h], where, 'box', img.get('width'),
                                       img.get('height')))
                texts.append(check_text(r.get('phrase'), where, 'phrase'))
            if not texts:
                return None
            return dict(img_path=osp.join(prefix, rel), source=source, captions=[],
                        regions=make_regions(boxes, texts), width=img.get('width'),
                        height=img.get('height'))

        return self.parse_records(regions, parse)
