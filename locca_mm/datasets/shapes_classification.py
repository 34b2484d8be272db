"""ShapesClassification: classification as text on the embedded SyntheticShapes images."""
from typing import List, Optional, Sequence, Tuple

from locca_mm.registry import DATASETS

from .base import make_regions
from .synthetic_shapes import KINDS, Shape, SyntheticShapes

#: What the class of an image is: its main object's colour and kind, or one of the two.
LABELS = ('category', 'colour', 'kind')


@DATASETS.register_module()
class ShapesClassification(SyntheticShapes):
    """Which shape is the picture of? One large object, and small distractors.

    An image holds one *main* object, drawn large (``main_size``, a fraction of
    the image side), and ``num_distractors`` small ones (``distractor_size``)
    of other categories, all drawn and placed as in :class:`SyntheticShapes`
    (same renderer, colours, background and noise). The class is the main
    object's: with ``label='category'`` its colour and kind (``"red circle"``:
    4 colours × 3 kinds = 12 classes by default, 18 with all six colours),
    ``'colour'`` (4) or ``'kind'`` (3). The main object covers at least four
    times the area of any distractor, so the class of every image is defined;
    the distractors make it more than the dominant colour of the pixels, and
    since none shares the main object's category the answer is never "the
    category drawn most often".

    Each sample's caption is its class name (``captions=[name]``: the text a
    captioning decoder learns to say), ``gt_label`` its index in the metainfo's
    ``classes``; every object is a region; in test mode ``task='cap'``, so the
    decoder's caption is the prediction that ``TextClassificationMetric``
    compares with the class name. With ``eval_task`` (a :class:`SyntheticShapes`
    argument) a test-mode sample is scored instead, for evaluation while
    pretraining: ``'features'`` (a few-shot probe, ``FewShotProbeMetric``: the
    sample's ``split`` tells its support images from the held-out ones) or
    ``'class_scores'`` (zero-shot, ``ZeroShotMetric``: every class name is
    scored as the image's caption, the sample's ``candidates``, each written
    through ``prompt_template``).

    The splits ``cls_train``, ``cls_val`` and ``cls_test`` are seeded apart
    from each other and from every :class:`SyntheticShapes` split (pretraining
    and referring), whatever ``seed``.

    Args:
        split (str): ``cls_train``, ``cls_val`` or ``cls_test``.
        label (str): ``'category'`` (default), ``'colour'`` or ``'kind'``.
        main_size (tuple): side of the main object, a fraction of ``img_size``.
            Defaults to (0.5, 0.65).
        distractor_size (tuple): side of a distractor. Defaults to (0.15, 0.25).
        num_distractors (tuple): (min, max) distractors; fewer when no free
            place is found. Defaults to (0, 2).
        prompt_template (str): how a class name is written as a ``'class_scores'``
            candidate caption, ``{}`` standing for the name, e.g. ``'a picture of a
            {}.'`` (the pretraining captions' phrasing). Defaults to ``'{}'``.
        **kwargs: :class:`SyntheticShapes` arguments (``num_samples``,
            ``img_size``, ``colours``, ``kinds``, ``seed``, ``pipeline``, ...).
    """

    SPLITS = ('cls_train', 'cls_val', 'cls_test')
    SPLIT_OFFSET = 10

    def __init__(self,
                 split: str = 'cls_train',
                 label: str = 'category',
                 main_size: Tuple[float, float] = (0.5, 0.65),
                 distractor_size: Tuple[float, float] = (0.15, 0.25),
                 num_distractors: Tuple[int, int] = (0, 2),
                 colours: Sequence[str] = ('red', 'green', 'blue', 'yellow'),
                 kinds: Sequence[str] = KINDS,
                 metainfo: Optional[dict] = None,
                 prompt_template: str = '{}',
                 **kwargs):
        if '{}' not in prompt_template:
            raise ValueError(f"prompt_template must hold '{{}}' (the class name), got "
                             f'{prompt_template!r}')
        self.prompt_template = prompt_template
        if label not in LABELS:
            raise ValueError(f'label must be one of {LABELS}, got {label!r}')
        if not max(distractor_size) * 2 <= min(main_size):
            raise ValueError(f'distractor_size {tuple(distractor_size)} must be at most half '
                             f'of main_size {tuple(main_size)}: the main object is the class')
        if len(set(colours)) * len(set(kinds)) < 2:
            raise ValueError('a distractor needs a second category: give two colours or kinds')
        self.label = label
        self.main_size, self.distractor_size = tuple(main_size), tuple(distractor_size)
        self.num_distractors = tuple(num_distractors)
        classes = self.class_names(label, colours, kinds)
        super().__init__(split=split, colours=colours, kinds=kinds,
                         metainfo=dict(metainfo or {}, classes=classes), **kwargs)

    @staticmethod
    def class_names(label: str, colours: Sequence[str], kinds: Sequence[str]) -> List[str]:
        """The class names, in label order: ``colour kind`` pairs, colours or kinds."""
        if label == 'colour':
            return list(colours)
        if label == 'kind':
            return list(kinds)
        return [f'{c} {k}' for c in colours for k in kinds]

    def class_of(self, shape: Shape) -> str:
        """The class name of ``shape`` under this dataset's ``label``."""
        return {'category': shape.name, 'colour': shape.colour, 'kind': shape.kind}[self.label]

    def scene(self, index: int) -> Tuple[List[Shape], None]:
        """The main object (first) and the distractors of sample ``index``; no pair."""
        rng = self._rng(index)
        kind, colour = str(rng.choice(self.kinds)), str(rng.choice(self.colours))
        shapes = [Shape(kind, colour, self._place(rng, [], size_range=self.main_size))]
        lo, hi = self.num_distractors
        for _ in range(int(rng.integers(lo, hi + 1))):
            other = (kind, colour)
            while other == (kind, colour):
                other = (str(rng.choice(self.kinds)), str(rng.choice(self.colours)))
            box = self._place(rng, shapes, size_range=self.distractor_size)
            if box is not None:
                shapes.append(Shape(*other, box))
        return shapes, None

    def get_data_info(self, idx: int) -> dict:
        """Image, class-name caption, ``gt_label`` and the objects as regions."""
        shapes, _ = self.scene(idx)
        name = self.class_of(shapes[0])
        info = dict(img=self.render(shapes, idx), img_path=f'shapes/{self.split}/{idx}',
                    source=f'ShapesClassification[{self.split}]#{idx}', sample_idx=idx,
                    width=self.img_size, height=self.img_size, captions=[name],
                    gt_label=self.metainfo['classes'].index(name),
                    regions=make_regions([s.box for s in shapes], [s.name for s in shapes]))
        if self.test_mode:
            info.update(task=self.eval_task or 'cap', split=self.split)
            if self.eval_task == 'class_scores':
                info['candidates'] = [self.prompt_template.format(c)
                                      for c in self.metainfo['classes']]
        return info

    def class_counts(self, num: Optional[int] = None) -> List[int]:
        """How many of the first ``num`` samples (default all) belong to each class."""
        counts = [0] * len(self.metainfo['classes'])
        for i in range(min(num or len(self), len(self))):
            counts[self.get_data_info(i)['gt_label']] += 1
        return counts


__all__ = ['ShapesClassification', 'LABELS']
