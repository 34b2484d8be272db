"""SyntheticShapes: the embedded default — coloured shapes drawn on the fly, no files."""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from locca_mm.registry import DATASETS
from locca_mm.structures.tasks import check_eval_task

from .base import LocCaBaseDataset, make_regions

# BGR (mmcv's channel order).
COLOURS = {
    'red': (40, 40, 220), 'green': (60, 180, 60), 'blue': (220, 90, 40),
    'yellow': (40, 210, 230), 'purple': (170, 60, 150), 'white': (245, 245, 245),
}
KINDS = ('circle', 'square', 'triangle')
SPLITS = ('pretrain', 'ref_train', 'ref_val', 'ref_test')
CAPTION_STYLES = ('alt', 'descriptive')
#: Words that say where something is (what ``location_word_share`` counts).
LOCATION_WORDS = ('left', 'right', 'top', 'bottom', 'above', 'below')
NUMBERS = ('one', 'two', 'three', 'four')


class Shape:
    """One drawn object: kind, colour and its box (x1, y1, x2, y2) in pixels."""

    __slots__ = ('kind', 'colour', 'box')

    def __init__(self, kind: str, colour: str, box: Tuple[float, float, float, float]):
        self.kind, self.colour, self.box = kind, colour, box

    @property
    def name(self) -> str:
        return f'{self.colour} {self.kind}'

    @property
    def centre(self) -> Tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


def plural(name: str) -> str:
    return name + 'es' if name.endswith('s') else name + 's'


@DATASETS.register_module()
class SyntheticShapes(LocCaBaseDataset):
    """Images of coloured shapes with captions, regions and referring expressions.

    Every sample is generated from ``(seed, split, index)`` alone, so the data
    needs no files and is identical in every worker and on every machine.
    An image holds ``num_objects`` non-overlapping shapes (kind × colour ×
    size × position) on a plain background; with probability
    ``duplicate_prob`` two of them share kind and colour, so that the category
    alone does not say which one is meant.

    - Each object is a region whose text names it: ``"red circle"``, or,
      for one of a duplicated pair, ``"left red circle"`` / ``"top red
      circle"`` (along the axis that separates them most).
    - The caption, ``caption_style='alt'`` (default): alt-text-like, holistic
      and mostly silent on where things are. It mentions some of the objects
      (all, a subset, only their colours, or only how many there are), e.g.
      ``"a picture of a red circle and a blue square."``, ``"three shapes, red,
      green and blue."``; with probability ``alt_location_prob`` it adds where
      one object is (``"the red circle is on the left."``). That is the premise
      of the paper: web alt-text rarely says where things are, and the region
      tasks are what teaches location. :meth:`location_word_share` measures it.
      ``caption_style='descriptive'`` names every object and states one
      relation: ``"a red circle, a blue square and a green triangle. the red
      circle is left of the blue square."`` (region-level supervision in the
      caption itself).
    - ``split='pretrain'`` yields captions and all regions (LocCa / Cap
      pretraining). ``'ref_train'``, ``'ref_val'``, ``'ref_test'`` (disjoint
      seeds) are a RefCOCO-like referring split: one sample per image with one
      target object, its expression (``"left red circle"``), and its box
      as the only region; in test mode a ``'ref'`` prediction. Targets are
      drawn from the duplicated pair with probability ``ambiguous_target_prob``
      when there is one, so a measured share of the expressions needs location
      to be resolved (see :meth:`ambiguous_fraction`).

    Args:
        split (str): one of ``pretrain``, ``ref_train``, ``ref_val``, ``ref_test``.
        num_samples (int): dataset length.
        img_size (int): square image side in pixels. Defaults to 64.
        num_objects (tuple): (min, max) objects per image. Defaults to (2, 3).
        size_range (tuple): object side as a fraction of ``img_size``.
            Defaults to (0.3, 0.45): large enough that a box is ~10 bins of a
            32-bin tokenizer, so IoU 0.5 asks for what a tiny model can learn.
        kinds, colours (Sequence[str]): the vocabulary of objects.
        duplicate_prob (float): chance that an image holds a duplicated pair.
        ambiguous_target_prob (float): chance to refer to one of the pair.
        caption_style (str): ``'alt'`` (default) or ``'descriptive'``.
        alt_location_prob (float): chance an ``'alt'`` caption says where one
            object is. Defaults to 0.05.
        num_captions (int): captions per ``pretrain`` image, drawn one after
            the other (the first is the one a single caption would be): several
            references for caption metrics, as COCO's five. Defaults to 1.
        seed (int): base seed.
        eval_task (str, optional): the task of a test-mode sample, a prediction
            or scoring task (:func:`~locca_mm.structures.tasks.check_eval_task`),
            e.g. ``'caption_nll'`` for the perplexity of held-out captions, or
            ``'features'`` for a few-shot probe. None (default): ``'cap'`` for
            ``pretrain``, ``'ref'`` for the referring splits.
        **kwargs: :class:`LocCaBaseDataset` arguments (``pipeline``, ``tokenizer``, ...).
    """

    METAINFO = dict(kinds=KINDS, colours=tuple(COLOURS))
    #: The splits this class draws, and the number that keeps their seeds apart from other
    #: generators' (a subclass with its own splits takes another).
    SPLITS = SPLITS
    SPLIT_OFFSET = 0

    def __init__(self,
                 split: str = 'pretrain',
                 num_samples: int = 10_000,
                 img_size: int = 64,
                 num_objects: Tuple[int, int] = (2, 3),
                 size_range: Tuple[float, float] = (0.3, 0.45),
                 kinds: Sequence[str] = KINDS,
                 colours: Sequence[str] = ('red', 'green', 'blue', 'yellow'),
                 duplicate_prob: float = 0.5,
                 ambiguous_target_prob: float = 0.7,
                 background: Tuple[int, int, int] = (70, 70, 70),
                 caption_style: str = 'alt',
                 alt_location_prob: float = 0.05,
                 num_captions: int = 1,
                 seed: int = 0,
                 eval_task: Optional[str] = None,
                 **kwargs):
        self.eval_task = None if eval_task is None else check_eval_task(eval_task)
        if split not in self.SPLITS:
            raise ValueError(f'split must be one of {self.SPLITS}, got {split!r}')
        if caption_style not in CAPTION_STYLES:
            raise ValueError(f'caption_style must be one of {CAPTION_STYLES}, '
                             f'got {caption_style!r}')
        self.caption_style, self.alt_location_prob = caption_style, alt_location_prob
        if num_captions < 1:
            raise ValueError(f'num_captions must be >= 1, got {num_captions}')
        self.num_captions = num_captions
        unknown = [c for c in colours if c not in COLOURS] + [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f'unknown colours/kinds {unknown}; colours: {sorted(COLOURS)}, '
                             f'kinds: {KINDS}')
        self.split, self.num_samples, self.img_size = split, num_samples, img_size
        self.num_objects, self.size_range = tuple(num_objects), tuple(size_range)
        self.kinds, self.colours = tuple(kinds), tuple(colours)
        self.duplicate_prob, self.ambiguous_target_prob = duplicate_prob, ambiguous_target_prob
        self.background = tuple(background)
        self.seed = seed
        kwargs.setdefault('serialize_data', False)
        super().__init__(**kwargs)

    @staticmethod
    def vocabulary(kinds: Sequence[str] = KINDS, colours: Sequence[str] = tuple(COLOURS)
                   ) -> List[str]:
        """Every word and mark the captions, regions and prompts use (for ``WordTokenizer``)."""
        words = ['a', 'the', 'two', 'and', 'is', 'of', 'left', 'right', 'top', 'bottom',
                 'above', 'below', ',', '.', ':', 'cap', 'aref', 'gcap', 'one', 'three',
                 'four', 'shapes', 'picture', 'on', 'at']
        words += list(colours) + list(kinds) + [plural(k) for k in kinds]
        return list(dict.fromkeys(words))

    def load_data_list(self) -> List[dict]:
        return [dict(sample_idx=i) for i in range(self.num_samples)]

    # ------------------------------------------------------------------ generation
    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng(
            [self.seed, self.SPLIT_OFFSET + self.SPLITS.index(self.split), index])

    def scene(self, index: int) -> Tuple[List[Shape], Optional[Tuple[int, int]]]:
        """The objects of sample ``index`` and the indices of its duplicated pair (or None)."""
        rng = self._rng(index)
        lo, hi = self.num_objects
        n = int(rng.integers(lo, hi + 1))
        categories = [(str(rng.choice(self.kinds)), str(rng.choice(self.colours)))
                      for _ in range(n)]
        # Distinct categories, then maybe one duplicated pair.
        seen, unique = set(), []
        for c in categories:
            if c not in seen:
                seen.add(c)
                unique.append(c)
        categories = unique
        pair = None
        if len(categories) >= 1 and n >= 2 and rng.random() < self.duplicate_prob:
            categories = categories[:max(n - 1, 1)]
            categories.append(categories[0])
            pair = (0, len(categories) - 1)
        shapes: List[Shape] = []
        for kind, colour in categories:
            box = self._place(rng, shapes)
            if box is None:
                break
            shapes.append(Shape(kind, colour, box))
        if pair is not None and pair[1] >= len(shapes):
            pair = None
        return shapes, pair

    def _place(self, rng, shapes: List[Shape], tries: int = 50, size_range=None):
        s = self.img_size
        for _ in range(tries):
            side = rng.uniform(*(size_range or self.size_range)) * s
            x1, y1 = rng.uniform(0, s - side), rng.uniform(0, s - side)
            box = (x1, y1, x1 + side, y1 + side)
            if all(box[2] + 1 < o.box[0] or o.box[2] + 1 < box[0] or
                   box[3] + 1 < o.box[1] or o.box[3] + 1 < box[1] for o in shapes):
                return box
        return None

    def render(self, shapes: List[Shape], index: int) -> np.ndarray:
        """A [S, S, 3] BGR uint8 image of ``shapes`` with mild pixel noise."""
        s = self.img_size
        img = np.empty((s, s, 3), dtype=np.uint8)
        img[:] = self.background
        for shape in shapes:
            colour = COLOURS[shape.colour]
            x1, y1, x2, y2 = shape.box
            if shape.kind == 'circle':
                cv2.circle(img, (round((x1 + x2) / 2), round((y1 + y2) / 2)),
                           round((x2 - x1) / 2), colour, -1, lineType=cv2.LINE_AA)
            elif shape.kind == 'square':
                cv2.rectangle(img, (round(x1), round(y1)), (round(x2) - 1, round(y2) - 1),
                              colour, -1)
            else:
                pts = np.array([[(x1 + x2) / 2, y1], [x2, y2], [x1, y2]]).round().astype(np.int32)
                cv2.fillPoly(img, [pts], colour, lineType=cv2.LINE_AA)
        noise = self._rng(index + 10**9).integers(-6, 7, size=img.shape)
        return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)

    @staticmethod
    def region_texts(shapes: List[Shape], pair: Optional[Tuple[int, int]]) -> List[str]:
        """Each object's name; the two of a duplicated pair say where they are."""
        texts = [s.name for s in shapes]
        if pair is not None:
            a, b = shapes[pair[0]], shapes[pair[1]]
            dx, dy = b.centre[0] - a.centre[0], b.centre[1] - a.centre[1]
            if abs(dx) >= abs(dy):
                first, second = ('left', 'right') if dx > 0 else ('right', 'left')
            else:
                first, second = ('top', 'bottom') if dy > 0 else ('bottom', 'top')
            texts[pair[0]] = f'{first} {a.name}'
            texts[pair[1]] = f'{second} {b.name}'
        return texts

    @staticmethod
    def caption(shapes: List[Shape], rng: np.random.Generator) -> str:
        """The objects in random order (pairs counted), then one spatial relation.

        The listing order carries no position, so a horizontal flip (which
        swaps left/right in the relation) never makes the caption wrong.
        """
        order = [shapes[int(i)] for i in rng.permutation(len(shapes))]
        names, counted = [], {}
        for s in order:
            counted[s.name] = counted.get(s.name, 0) + 1
        for s in order:
            if s.name in counted:
                k = counted.pop(s.name)
                names.append(f'a {s.name}' if k == 1 else f'two {plural(s.name)}')
        listing = names[0] if len(names) == 1 else ', '.join(names[:-1]) + ' and ' + names[-1]
        text = listing + '.'
        distinct = [s for s in order if sum(o.name == s.name for o in shapes) == 1]
        if len(distinct) >= 2:
            i, j = rng.choice(len(distinct), size=2, replace=False)
            a, b = distinct[int(i)], distinct[int(j)]
            dx, dy = b.centre[0] - a.centre[0], b.centre[1] - a.centre[1]
            if abs(dx) >= abs(dy):
                rel = 'left of' if dx > 0 else 'right of'
            else:
                rel = 'above' if dy > 0 else 'below'
            text += f' the {a.name} is {rel} the {b.name}.'
        return text

    @staticmethod
    def alt_caption(shapes: List[Shape], rng: np.random.Generator, img_size: int,
                    location_prob: float = 0.05) -> str:
        """An alt-text-like caption: some of the objects, holistically, rarely where.

        One of: the objects named (all or a subset), their colours, or how many
        there are; with probability ``location_prob`` a last sentence says on
        which side (or at the top / bottom) one named object is.
        """
        order = [shapes[int(i)] for i in rng.permutation(len(shapes))]
        k = int(rng.integers(1, len(order) + 1))
        mentioned = order[:k]

        def listing(items):
            items = list(dict.fromkeys(items))
            return items[0] if len(items) == 1 else ', '.join(items[:-1]) + ' and ' + items[-1]

        style = int(rng.integers(4))
        if style == 0:
            text = listing([f'a {s.name}' for s in mentioned]) + '.'
        elif style == 1:
            text = 'a picture of ' + listing([f'a {s.name}' for s in mentioned]) + '.'
        elif style == 2:
            text = listing([s.colour for s in mentioned]) + ' shapes.'
        else:
            n = len(shapes)
            count = NUMBERS[n - 1] if n <= len(NUMBERS) else 'four'
            text = f'{count} shapes, ' + listing([s.colour for s in order]) + '.'
        if rng.random() < location_prob:
            s = mentioned[0]
            x, y = s.centre
            if rng.random() < 0.5:
                where = 'on the left' if x < img_size / 2 else 'on the right'
            else:
                where = 'at the top' if y < img_size / 2 else 'at the bottom'
            text += f' the {s.name} is {where}.'
        return text

    def location_word_share(self, num: int = 1000) -> float:
        """Share of the first ``num`` pretraining captions with a word of :data:`LOCATION_WORDS`."""
        if self.split != 'pretrain':
            raise ValueError('only the pretraining split has captions')
        n = min(num, len(self))
        words = set(LOCATION_WORDS)
        hits = sum(bool(words & set(self.get_data_info(i)['captions'][0].replace('.', ' ')
                                    .replace(',', ' ').split())) for i in range(n))
        return hits / max(n, 1)

    def label_map(self, shapes: List[Shape]) -> np.ndarray:
        """[S, S] uint8 dense labels: 0 background, ``1 + colour * len(kinds) + kind``
        for the object drawn there (the same geometry as :meth:`render`, no anti-aliasing)."""
        s = self.img_size
        labels = np.zeros((s, s), dtype=np.uint8)
        for shape in shapes:
            value = 1 + self.colours.index(shape.colour) * len(self.kinds) + \
                self.kinds.index(shape.kind)
            x1, y1, x2, y2 = shape.box
            if shape.kind == 'circle':
                cv2.circle(labels, (round((x1 + x2) / 2), round((y1 + y2) / 2)),
                           round((x2 - x1) / 2), value, -1)
            elif shape.kind == 'square':
                cv2.rectangle(labels, (round(x1), round(y1)), (round(x2) - 1, round(y2) - 1),
                              value, -1)
            else:
                pts = np.array([[(x1 + x2) / 2, y1], [x2, y2], [x1, y2]]).round().astype(np.int32)
                cv2.fillPoly(labels, [pts], value)
        return labels

    def dense_classes(self) -> List[str]:
        """Names of the :meth:`label_map` classes: ``background``, then colour × kind."""
        return ['background'] + [f'{c} {k}' for c in self.colours for k in self.kinds]

    def get_data_info(self, idx: int) -> dict:
        shapes, pair = self.scene(idx)
        rng = self._rng(idx + 2 * 10**9)
        texts = self.region_texts(shapes, pair)
        boxes = [s.box for s in shapes]
        info = dict(img=self.render(shapes, idx), img_path=f'shapes/{self.split}/{idx}',
                    source=f'SyntheticShapes[{self.split}]#{idx}', sample_idx=idx,
                    width=self.img_size, height=self.img_size)
        if self.split == 'pretrain':
            captions = [self.caption(shapes, rng) if self.caption_style == 'descriptive' else
                        self.alt_caption(shapes, rng, self.img_size, self.alt_location_prob)
                        for _ in range(self.num_captions)]
            info.update(captions=captions, regions=make_regions(boxes, texts))
            if self.test_mode:
                info['task'] = self.eval_task or 'cap'
            return info
        target = int(rng.integers(len(shapes)))
        if pair is not None and rng.random() < self.ambiguous_target_prob:
            target = pair[int(rng.integers(2))]
        # The expression is the object's region text: the phrasing pretraining
        # regions use, so a pretrained decoder can also be asked directly.
        expression = texts[target]
        info.update(captions=[], regions=make_regions([boxes[target]], [expression]),
                    ref_text=expression, ref_bbox=list(boxes[target]), split=self.split,
                    ambiguous=pair is not None and target in pair)
        if self.test_mode:
            info['task'] = self.eval_task or 'ref'
        return info

    def ambiguous_fraction(self, num: Optional[int] = None) -> float:
        """Share of referring expressions whose category alone names two objects."""
        if self.split == 'pretrain':
            raise ValueError('only the referring splits have expressions')
        n = min(num or len(self), len(self))
        return sum(bool(self.get_data_info(i)['ambiguous']) for i in range(n)) / max(n, 1)


__all__ = ['SyntheticShapes', 'Shape', 'COLOURS', 'KINDS']
