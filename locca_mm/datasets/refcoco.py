"""RefCOCODataset: RefCOCO, RefCOCO+ and RefCOCOg referring expressions."""
import io
import os.path as osp
import pickle
from typing import Any, List

from mmengine import fileio

from locca_mm.registry import DATASETS

from .base import LocCaBaseDataset, check_box, check_text, invalid, make_regions
from .coco import load_json

#: The standard splits of each release (``refs(unc).p`` / ``refs(umd).p``).
SPLITS = {'unc': ('train', 'val', 'testA', 'testB'), 'umd': ('train', 'val', 'test')}


class _DataOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers, strings and numbers only: a refs file runs no code."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f'refusing to load {module}.{name}: the refs file may '
                                     'hold only lists, dicts, strings and numbers')


def _to_str(obj: Any) -> Any:
    """Python 2 pickles store ``str`` as bytes: decode them (UTF-8, else Latin-1)."""
    if isinstance(obj, bytes):
        try:
            return obj.decode('utf-8')
        except UnicodeDecodeError:
            return obj.decode('latin-1')
    if isinstance(obj, dict):
        return {_to_str(k): _to_str(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_str(v) for v in obj)
    return obj


def load_refs(path: str) -> list:
    """The list of refs in a ``refs(unc|umd|google).p`` file, loaded without running code."""
    try:
        raw = fileio.get(path)
    except FileNotFoundError:
        raise FileNotFoundError(f'refs file not found: {path}') from None
    try:
        refs = _DataOnlyUnpickler(io.BytesIO(raw), encoding='bytes').load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise invalid(path, f'cannot read the refs pickle: {e}') from None
    refs = _to_str(refs)
    if not isinstance(refs, list):
        raise invalid(path, f'expected a list of refs, got {type(refs).__name__}')
    return refs


@DATASETS.register_module()
class RefCOCODataset(LocCaBaseDataset):
    """Referring expressions of RefCOCO / RefCOCO+ (``refs(unc).p``) and RefCOCOg (``refs(umd).p``).

    One sample per referring expression (sentence) of the chosen ``split``,
    with the COCO image, the expression and its object's box (from
    ``instances.json``). For training the expression and box form the
    sample's only region (an ARef row); in test mode the sample is a ``'ref'``
    prediction whose ``gt_ref_bbox`` (original pixels) the metric compares.

    Args:
        ann_file (str): the release's ``instances.json``.
        split_file (str): ``refs(unc).p`` or ``refs(umd).p`` (relative to ``data_root``).
        split (str): ``train``, ``val``, ``testA``, ``testB`` (unc) or ``test`` (umd).
        data_prefix (dict): ``img_path``: COCO ``train2014/``.
        **kwargs: :class:`LocCaBaseDataset` arguments.
    """

    def __init__(self, *args, split_file: str = 'refs(unc).p', split: str = 'val', **kwargs):
        self.split_file, self.split = split_file, split
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        refs_path = self.split_file if osp.isabs(self.split_file) or not self.data_root \
            else osp.join(self.data_root, self.split_file)
        refs = load_refs(refs_path)
        splits = {r.get('split') for r in refs if isinstance(r, dict)}
        if self.split not in splits:
            raise ValueError(f'split {self.split!r} is not in {refs_path}; it has '
                             f'{sorted(s for s in splits if s)}')
        inst = load_json(self.ann_file)
        images = {img['id']: img for img in inst.get('images', [])}
        anns = {ann['id']: ann for ann in inst.get('annotations', [])}
        name = osp.basename(refs_path)
        prefix = self.data_prefix.get('img_path', '')

        def records():
            for ref in refs:
                if isinstance(ref, dict) and ref.get('split') == self.split:
                    for sent in ref.get('sentences', []):
                        yield ref, sent

        def parse(item):
            ref, sent = item
            source = f'{name}#ref_id={ref.get("ref_id")},sent_id={sent.get("sent_id")}'
            ann = anns.get(ref.get('ann_id'))
            img = images.get(ref.get('image_id'))
            if ann is None or img is None:
                raise invalid(source, f'ann {ref.get("ann_id")} or image {ref.get("image_id")} '
                              f'is not in {osp.basename(self.ann_file)}')
            x, y, w, h = ann['bbox']
            box = check_box([x, y, x + w, y + h], source, 'bbox', img.get('width'),
                            img.get('height'))
            text = check_text(sent.get('sent', sent.get('raw')), source, 'sentence')
            info = dict(img_path=osp.join(prefix, img['file_name']), source=source,
                        captions=[], regions=make_regions([box], [text]),
                        width=img.get('width'), height=img.get('height'),
                        ref_text=text, ref_bbox=box, split=self.split)
            if self.test_mode:
                info['task'] = 'ref'
            return info

        return self.parse_records(records(), parse)
