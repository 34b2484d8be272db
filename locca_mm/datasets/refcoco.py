"""RefCOCODataset: RefCOCO, RefCOCO+ and RefCOCOg referring expressions."""
import io
import logging
import os.path as osp
import pickle
from typing import Any, List, Optional, Sequence, Set

from mmengine import fileio
from mmengine.logging import print_log

from locca_mm.registry import DATASETS

from .base import LocCaBaseDataset, check_box, check_text, invalid, make_regions, under_root
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

    The three releases annotate the same COCO train2014 images and their splits
    differ: a RefCOCO train image may be a RefCOCOg test image. Training on
    their union (the paper's mixture) must therefore leave out every image of
    every evaluated split, which ``exclude_images_of`` does (by COCO image id)
    and logs the count of (``num_excluded``).

    Args:
        ann_file (str): the release's ``instances.json``.
        split_file (str): ``refs(unc).p`` or ``refs(umd).p`` (relative to ``data_root``).
        split (str): ``train``, ``val``, ``testA``, ``testB`` (unc) or ``test`` (umd).
        dataset_name (str, optional): e.g. ``'refcocop'``. Given, each sample's
            ``split`` is ``'<dataset_name>/<split>'`` (``'refcocop/val'``), so one
            evaluation over several releases scores RefCOCO val and RefCOCO+ val
            apart (:class:`RefCOCOMetric` reports per ``split``).
        exclude_images_of (Sequence[dict]): held-out splits whose images this
            dataset leaves out, each ``dict(split_file=..., splits=[...],
            data_root=...)``; ``split_file`` is relative to the entry's
            ``data_root`` (default: this dataset's). Defaults to none.
        data_prefix (dict): ``img_path``: COCO ``train2014/``.
        **kwargs: :class:`LocCaBaseDataset` arguments.

    Example:
        >>> # RefCOCOg train without the images of RefCOCO's val and test splits
        >>> RefCOCODataset(data_root='data/refcocog/', ann_file='instances.json',
        ...                split_file='refs(umd).p', split='train',
        ...                exclude_images_of=[dict(data_root='data/refcoco/',
        ...                                        split_file='refs(unc).p',
        ...                                        splits=['val', 'testA', 'testB'])])
    """

    def __init__(self, *args, split_file: str = 'refs(unc).p', split: str = 'val',
                 dataset_name: Optional[str] = None,
                 exclude_images_of: Sequence[dict] = (), **kwargs):
        self.split_file, self.split, self.dataset_name = split_file, split, dataset_name
        self.exclude_images_of = [_check_heldout(h) for h in exclude_images_of]
        self.num_excluded = dict(images=0, refs=0, expressions=0)
        super().__init__(*args, **kwargs)

    def _path(self, split_file: str, data_root: Optional[str] = None) -> str:
        """A refs file under ``data_root`` (default: this dataset's)."""
        return under_root(split_file, self.data_root if data_root is None else data_root)

    def load_data_list(self) -> List[dict]:
        refs_path = self._path(self.split_file)
        refs = load_split_refs(refs_path, [self.split])
        heldout = self._heldout_images(refs_path)
        inst = load_json(self.ann_file)
        images = {img['id']: img for img in inst.get('images', [])}
        anns = {ann['id']: ann for ann in inst.get('annotations', [])}
        name = osp.basename(refs_path)
        left_out = [r for r in refs if r.get('image_id') in heldout]
        if self.exclude_images_of:
            self._log_excluded(left_out)

        def records():
            for ref in refs:
                if ref.get('image_id') not in heldout:
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
            return self._data_info(source, ann, img, sent)

        return self.parse_records(records(), parse)

    def _data_info(self, source: str, ann: dict, img: dict, sent: dict) -> dict:
        """One expression's data info: its image, text and box (xyxy, original pixels)."""
        x, y, w, h = ann['bbox']
        box = check_box([x, y, x + w, y + h], source, 'bbox', img.get('width'),
                        img.get('height'))
        text = check_text(sent.get('sent', sent.get('raw')), source, 'sentence')
        split = f'{self.dataset_name}/{self.split}' if self.dataset_name else self.split
        info = dict(img_path=osp.join(self.data_prefix.get('img_path', ''), img['file_name']),
                    source=source, captions=[], regions=make_regions([box], [text]),
                    width=img.get('width'), height=img.get('height'),
                    ref_text=text, ref_bbox=box, split=split)
        if self.test_mode:
            info['task'] = 'ref'
        return info

    def _heldout_images(self, refs_path: str) -> Set[Any]:
        """The COCO image ids of every ``exclude_images_of`` split."""
        images: Set[Any] = set()
        for held in self.exclude_images_of:
            path = self._path(held['split_file'], held.get('data_root'))
            if osp.abspath(path) == osp.abspath(refs_path) and self.split in held['splits']:
                raise ValueError(f'exclude_images_of names the dataset\'s own split '
                                 f'{self.split!r} of {path}: nothing would be left')
            images.update(r.get('image_id') for r in load_split_refs(path, held['splits']))
        return images

    def _log_excluded(self, left_out: List[dict]) -> None:
        """Count and log the refs, expressions and images that the held-out splits took."""
        self.num_excluded = dict(
            images=len({r.get('image_id') for r in left_out}), refs=len(left_out),
            expressions=sum(len(r.get('sentences', [])) for r in left_out))
        held = '; '.join(f'{self._path(h["split_file"], h.get("data_root"))} '
                         f'{"/".join(h["splits"])}' for h in self.exclude_images_of)
        n = self.num_excluded
        print_log(f'RefCOCODataset {self.dataset_name or self.split_file} {self.split}: left '
                  f'out {n["expressions"]} expressions ({n["refs"]} refs) on {n["images"]} '
                  f'images of the held-out splits ({held})', logger='current',
                  level=logging.INFO)


def _check_heldout(held: Any) -> dict:
    """An ``exclude_images_of`` entry: ``split_file`` and a non-empty list of ``splits``."""
    if not isinstance(held, dict) or not isinstance(held.get('split_file'), str):
        raise ValueError(f'exclude_images_of entries are dict(split_file=..., splits=[...], '
                         f'data_root=...), got {held!r}')
    splits = held.get('splits')
    if isinstance(splits, str):
        splits = [splits]
    if not splits or not all(isinstance(s, str) for s in splits):
        raise ValueError(f'exclude_images_of entry {held!r}: splits must name at least one '
                         'split')
    return dict(held, splits=list(splits))


def load_split_refs(path: str, splits: Sequence[str]) -> List[dict]:
    """The refs of ``path`` in ``splits``; a split the file does not have is an error."""
    refs = load_refs(path)
    present = {r.get('split') for r in refs if isinstance(r, dict)}
    for split in splits:
        if split not in present:
            raise ValueError(f'split {split!r} is not in {path}; it has '
                             f'{sorted(s for s in present if s)}')
    return [r for r in refs if isinstance(r, dict) and r.get('split') in splits]
