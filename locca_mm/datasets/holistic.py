"""The holistic transfers' datasets: mmpretrain's readers, locca_mm's data infos.

mmpretrain 1.2 reads each benchmark in its own released layout (``ImageNet``,
``SUN397``, ``Food101``, ``OxfordIIITPet``, ``CustomDataset`` for plain class
folders, ``COCOCaption``, ``Flickr30kCaption``, ``COCOVQA``, ``GQA``,
``OCRVQA``). The datasets here build one of them (``reader=dict(type=...)``)
and turn its data infos into locca_mm's (:class:`LocCaBaseDataset`), so the
decoder learns each task as text:

- :class:`HolisticClassification`: the class name is the caption;
- :class:`HolisticCaption` (``holistic_text.py``): one sample per image with
  all its reference captions;
- :class:`HolisticVQA` (``holistic_text.py``): the question joins the Cap
  prompt and the answer is the caption.

A reader that fails on its files is reported with the file and, where
:mod:`.holistic_checks` finds it, the first bad record; records the reader
accepts are checked again here (non-empty texts, class indices in range).
"""
import copy
import functools
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

from mmengine import fileio

from locca_mm.registry import DATASETS

from .base import LocCaBaseDataset, check_text, invalid
from .holistic_checks import first_bad_record

__all__ = ['MMPretrainReaderDataset', 'HolisticClassification', 'imagenet_class_names',
           'readable_class_name']


def readable_class_name(name: str) -> str:
    """A folder-style class name as words: ``'apple_pie'`` -> ``'apple pie'``."""
    return ' '.join(str(name).replace('_', ' ').split())


@functools.lru_cache(maxsize=1)
def imagenet_class_names() -> Tuple[str, ...]:
    """Human-readable ImageNet-1k class names, in class-index order.

    CLIP's curated names (mmpretrain's ``IMAGENET_SIMPLE_CATEGORIES``), with its two
    repeated names told apart by their WordNet synonyms: class 744 (``projectile, missile``)
    becomes 'projectile' (657 stays 'missile') and 836 (``sunglass``) 'sunglass'
    (837 stays 'sunglasses').
    """
    from mmpretrain.datasets.categories import IMAGENET_SIMPLE_CATEGORIES
    names = list(IMAGENET_SIMPLE_CATEGORIES)
    names[744], names[836] = 'projectile', 'sunglass'
    return tuple(names)


#: Built-in class-name lists (functions, loaded when asked for), by the name a config gives
#: as ``class_names``.
CLASS_NAME_LISTS = dict(imagenet=imagenet_class_names)


@DATASETS.register_module()
class MMPretrainReaderDataset(LocCaBaseDataset):
    """Base of the datasets that read their files with an mmpretrain dataset.

    Args:
        reader (dict): the mmpretrain dataset config, e.g.
            ``dict(type='mmpretrain.Food101', data_root='data/food-101', split='train')``
            (the scope may be left out). It is built without a pipeline and
            only its data infos are used.
        **kwargs: :class:`LocCaBaseDataset` arguments (``pipeline``,
            ``test_mode``, ``skip_invalid``, ``tokenizer``, ...).
    """

    def __init__(self, reader: dict, **kwargs):
        if not isinstance(reader, dict) or not reader.get('type'):
            raise ValueError(f'reader must be an mmpretrain dataset config with a type, '
                             f'got {reader!r}')
        self.reader_cfg = copy.deepcopy(dict(reader))
        self.reader_file = ''
        super().__init__(**kwargs)

    @property
    def reader_type(self) -> str:
        """The reader's class name, without its scope."""
        return str(self.reader_cfg['type']).split('.')[-1]

    def read(self):
        """The built reader (data infos loaded), or an error naming its file and record."""
        import mmpretrain.datasets  # noqa: F401 - registers the readers
        from mmpretrain.registry import DATASETS as READERS
        reader_cls = READERS.get(self.reader_type)  # not build(): no switch to its scope
        if reader_cls is None:
            raise KeyError(f'{self.reader_cfg["type"]} is not an mmpretrain dataset')
        cfg = {k: v for k, v in self.reader_cfg.items() if k != 'type'}
        reader = reader_cls(**cfg, pipeline=[], lazy_init=True, serialize_data=False)
        self.reader_file = _reader_file(reader)
        try:
            reader.full_init()
        except FileNotFoundError as e:
            raise FileNotFoundError(f'{self.reader_type}: {e}') from None
        except Exception as e:  # noqa: BLE001 - the reader's own failure, located below
            where = first_bad_record(self.reader_type, self.reader_cfg) or self.reader_file \
                or self.reader_cfg.get('data_root', '?')
            raise invalid(where, f'mmpretrain.{self.reader_type} cannot read it: '
                          f'{type(e).__name__}: {e}') from e
        return reader

    def record_source(self, info: dict, index: int) -> str:
        """Where a reader's data info comes from: its file and record number, or its image."""
        if self.reader_file:
            return f'{osp.basename(self.reader_file)}#{index}'
        return str(info.get('img_path', f'record {index}'))


def _reader_file(reader) -> str:
    """The annotation file of a built reader ('' for class folders)."""
    for key in ('question_file', 'ann_file'):
        path = getattr(reader, key, '') or ''
        if path:
            return path
    return ''


@DATASETS.register_module()
class HolisticClassification(MMPretrainReaderDataset):
    """Image classification as text generation: the caption is the class's name.

    Each data info has ``captions=[class name]``, ``gt_label`` (int) and, in
    test mode, ``task='cap'``; the metainfo ``classes`` holds the names, which
    :class:`~locca_mm.evaluation.TextClassificationMetric` compares with the
    generated text.

    Args:
        reader (dict): an mmpretrain classification dataset: ``ImageNet``,
            ``SUN397``, ``Food101``, ``OxfordIIITPet``, ``CustomDataset`` (class
            folders, e.g. RESISC45), ...
        class_names (str | Sequence[str], optional): the names the decoder
            writes, in class-index order: None makes the reader's own class
            names readable (:func:`readable_class_name`: ``_`` -> space); a
            sequence gives them; ``'imagenet'`` is :func:`imagenet_class_names`;
            any other string is a text file with one name per line.
        **kwargs: :class:`MMPretrainReaderDataset` arguments.
    """

    def __init__(self, reader: dict, class_names: Union[None, str, Sequence[str]] = None,
                 **kwargs):
        self.class_names = class_names
        super().__init__(reader, **kwargs)

    def _names(self, reader_classes: Optional[Sequence[str]]) -> Tuple[str, ...]:
        given = self.class_names
        if given is None:
            if not reader_classes:
                raise ValueError(f'mmpretrain.{self.reader_type} gives no class names: set '
                                 'class_names')
            names = [readable_class_name(c) for c in reader_classes]
        elif isinstance(given, str):
            names = CLASS_NAME_LISTS[given]() if given in CLASS_NAME_LISTS \
                else _names_file(given)
        else:
            names = list(given)
        names = [check_text(n, f'class_names[{i}]', 'class name') for i, n in enumerate(names)]
        if reader_classes and len(names) != len(reader_classes):
            raise ValueError(f'{len(names)} class names for the {len(reader_classes)} classes '
                             f'of mmpretrain.{self.reader_type}')
        return tuple(names)

    def load_data_list(self) -> List[dict]:
        reader = self.read()
        names = self._names(reader.metainfo.get('classes'))
        self._metainfo['classes'] = names

        def parse(item):
            index, info = item
            source = self.record_source(info, index)
            label = info.get('gt_label')
            if label is None or not 0 <= int(label) < len(names):
                raise invalid(source, f'class index {label!r} is not one of the '
                              f'{len(names)} classes')
            if not info.get('img_path'):
                raise invalid(source, 'no image path')
            out = dict(img_path=info['img_path'], source=source, captions=[names[int(label)]],
                       gt_label=int(label))
            if self.test_mode:
                out['task'] = 'cap'
            return out

        return self.parse_records(enumerate(reader.data_list), parse)


def _names_file(path: str) -> List[str]:
    try:
        text = fileio.get_text(path)
    except FileNotFoundError:
        raise FileNotFoundError(f'class-name file not found: {path}') from None
    return [line.strip() for line in text.splitlines() if line.strip()]
