"""PaliGemma and Florence-2 answer strings <-> region texts and location bins.

The strings these models train on and answer with (``prefix`` is the task prompt,
``suffix`` the answer):

- PaliGemma: ``caption en`` -> a caption; ``caption en <loc…>×4`` -> the text of
  that region; ``detect cat ; dog`` -> ``<loc…>×4 cat ; <loc…>×4 dog`` (y1 x1 y2 x2,
  ``<locNNNN>``, :data:`~locca_mm.tokenizers.box.PRESETS` ``'paligemma'``).
- Florence-2: ``<CAPTION>`` (and ``<DETAILED_CAPTION>``, ``<MORE_DETAILED_CAPTION>``)
  -> a caption; ``<OD>`` and ``<DENSE_REGION_CAPTION>`` -> ``cat<loc_…>×4dog<loc_…>×4``
  (x1 y1 x2 y2, ``<loc_N>``; several boxes may follow one phrase);
  ``<REGION_TO_DESCRIPTION><loc_…>×4`` / ``<REGION_TO_CATEGORY><loc_…>×4`` -> the
  region's text; ``<CAPTION_TO_PHRASE_GROUNDING>a caption`` -> phrases with boxes.

Bins stay bins here (in the preset's order): :class:`~locca_mm.tokenizers.BoxTokenizer`
with the matching preset turns them into pixels once the image size is known. Anything
that does not read as one of these raises :class:`BoxStringError` naming the part that
does not; nothing is skipped. Unlike the references' own parsers (big_vision's PaliGemma
demo regex, transformers' ``Florence2PostProcessor``), which skip what they do not
match, drop a box without a name, and (Florence-2) strip non-ASCII characters from
phrases, these readers keep every character and refuse what they cannot read.
"""
import re
from typing import List, NamedTuple, Sequence, Tuple

from .box import BoxTokenizer

__all__ = ['BoxStringError', 'Parsed', 'parse_paligemma', 'format_paligemma',
           'parse_florence2', 'format_florence2', 'parse_florence2_od', 'format_florence2_od',
           'PALIGEMMA', 'FLORENCE2']

PALIGEMMA = BoxTokenizer(preset='paligemma')
FLORENCE2 = BoxTokenizer(preset='florence2')
BOX_LEN = 4


class BoxStringError(ValueError):
    """A prompt or answer string that does not read as the format says."""


class Parsed(NamedTuple):
    """What one prefix/suffix pair says about its image.

    Attributes:
        captions (list[str]): image captions (0 or 1).
        texts (list[str]): region texts, one per box.
        bins (list[list[int]]): 4 bins per region, in the preset's order.
    """
    captions: List[str]
    texts: List[str]
    bins: List[List[int]]


def _boxes(tok: BoxTokenizer, locs: str, where: str) -> List[List[int]]:
    """Boxes of a run of location tokens (a multiple of 4, none inverted)."""
    try:
        bins = tok.from_string(locs)
    except ValueError as e:
        raise BoxStringError(f'{where}: {e}') from None
    if not bins or len(bins) % BOX_LEN:
        raise BoxStringError(f'{where}: {len(bins)} location tokens in {locs!r}; a box is 4')
    boxes = [bins[i:i + BOX_LEN] for i in range(0, len(bins), BOX_LEN)]
    for box in boxes:
        if box[2] < box[0] or box[3] < box[1]:
            raise BoxStringError(f'{where}: the box {locs!r} is inverted (its end before its '
                                 'start)')
    return boxes


def _text(text: str, where: str) -> str:
    """A stripped non-empty text without angle brackets (they start tokens)."""
    text = text.strip()
    if not text:
        raise BoxStringError(f'{where}: empty text')
    if '<' in text or '>' in text:
        raise BoxStringError(f'{where}: {text!r} holds a token this reader does not read '
                             '(segmentation or other special tokens)')
    return text


# -- PaliGemma ---------------------------------------------------------------------------------

_PG_CAPTION = re.compile(r'^caption(?:\s+(?P<lang>[A-Za-z]{2,3}(?:[-_][A-Za-z]{2,4})?))?'
                         r'\s*(?P<locs>(?:<loc\d+>)*)$')


def parse_paligemma(prefix: str, suffix: str) -> Parsed:
    """Captions, region texts and bins (y1 x1 y2 x2 of 1024) of a PaliGemma pair.

    Raises:
        BoxStringError: a prefix other than ``caption [lang]``, ``caption [lang]
            <loc>×4`` or ``detect a ; b``; a suffix object that is not 4 location
            tokens and a name; a bin above 1023; an inverted box; an empty text.
    """
    prefix, suffix = prefix.strip(), suffix.strip()
    if prefix.split(' ', 1)[0] == 'detect':
        return Parsed([], *_detect_objects(suffix))
    m = _PG_CAPTION.match(prefix)
    if m is None:
        raise BoxStringError(f'prefix {prefix!r} is none of "caption [lang]", "caption [lang] '
                             '<loc…>×4", "detect a ; b"')
    if not m.group('locs'):
        return Parsed([_text(suffix, 'caption')], [], [])
    box = _boxes(PALIGEMMA, m.group('locs'), 'prefix')
    if len(box) != 1:
        raise BoxStringError(f'prefix {prefix!r} names {len(box)} boxes; region captioning '
                             'takes one')
    return Parsed([], [_text(suffix, 'region text')], box)


def _detect_objects(suffix: str) -> Tuple[List[str], List[List[int]]]:
    texts, bins = [], []
    if not suffix:
        return texts, bins
    loc = PALIGEMMA.token_pattern()
    for i, item in enumerate(suffix.split(';')):
        m = re.match(rf'^\s*(?P<locs>(?:{loc}){{4}})(?P<name>.*)$', item, re.S)
        if m is None:
            raise BoxStringError(f'object {i} of the suffix, {item.strip()!r}, does not start '
                                 'with 4 location tokens')
        bins += _boxes(PALIGEMMA, m.group('locs'), f'object {i}')
        texts.append(_text(m.group('name'), f'object {i} name'))
    return texts, bins


def format_paligemma(texts: Sequence[str] = (), bins: Sequence[Sequence[int]] = (),
                     caption: str = None, lang: str = 'en') -> Tuple[str, str]:
    """``(prefix, suffix)`` of a caption (``caption``), or of detections (``texts`` and
    their ``bins``, y1 x1 y2 x2 of 1024): ``detect`` lists each name once, in order.

    Raises:
        BoxStringError: both or neither given, a name with ``;``, ``<`` or ``>``.
    """
    if (caption is None) == (not texts):
        raise BoxStringError('give a caption or region texts with bins, one of the two')
    if caption is not None:
        return f'caption {lang}'.strip(), _text(caption, 'caption')
    if len(texts) != len(bins):
        raise BoxStringError(f'{len(texts)} texts but {len(bins)} boxes')
    names = [_text(t, f'name {i}') for i, t in enumerate(texts)]
    bad = [n for n in names if ';' in n]
    if bad:
        raise BoxStringError(f'names {bad} hold ";", the separator of "detect"')
    objects = [f'{PALIGEMMA.to_string(b)} {n}' for n, b in zip(names, bins)]
    return 'detect ' + ' ; '.join(dict.fromkeys(names)), ' ; '.join(objects)


# -- Florence-2 --------------------------------------------------------------------------------

FLORENCE2_CAPTIONS = ('<CAPTION>', '<DETAILED_CAPTION>', '<MORE_DETAILED_CAPTION>')
FLORENCE2_BOXES = ('<OD>', '<DENSE_REGION_CAPTION>')
FLORENCE2_REGION = ('<REGION_TO_DESCRIPTION>', '<REGION_TO_CATEGORY>')
FLORENCE2_GROUNDING = '<CAPTION_TO_PHRASE_GROUNDING>'
_SPECIALS = re.compile(r'</?s>|<pad>')


def parse_florence2_od(text: str) -> Tuple[List[str], List[List[int]]]:
    """Phrases and bins (x1 y1 x2 y2 of 1000) of an ``<OD>`` answer,
    ``phrase<loc_…>×4[<loc_…>×4…]phrase…``: each box takes the phrase before it.

    ``<s>``, ``</s>`` and ``<pad>`` are removed first, as transformers' post-processor
    does. Raises :class:`BoxStringError` for boxes without a phrase, a phrase without
    boxes, a number of tokens that is not a multiple of 4, a bin above 999.
    """
    text = _SPECIALS.sub('', text)
    run = re.compile(rf'([^<]*)((?:{FLORENCE2.token_pattern()})+)')
    texts, bins, pos = [], [], 0
    while pos < len(text.rstrip()):
        m = run.match(text, pos)
        if m is None:
            raise BoxStringError(f'{text[pos:pos + 30]!r} at character {pos} is not a phrase '
                                 'followed by <loc_N> tokens')
        boxes = _boxes(FLORENCE2, m.group(2), f'the boxes at character {m.start(2)}')
        name = _text(m.group(1), f'the phrase before character {m.start(2)}')
        texts += [name] * len(boxes)
        bins += boxes
        pos = m.end()
    return texts, bins


def format_florence2_od(texts: Sequence[str], bins: Sequence[Sequence[int]]) -> str:
    """The ``<OD>`` answer of region texts and their bins (x1 y1 x2 y2 of 1000)."""
    if len(texts) != len(bins):
        raise BoxStringError(f'{len(texts)} texts but {len(bins)} boxes')
    return ''.join(_text(t, f'name {i}') + FLORENCE2.to_string(b)
                   for i, (t, b) in enumerate(zip(texts, bins)))


def parse_florence2(prefix: str, suffix: str) -> Parsed:
    """Captions, region texts and bins of a Florence-2 task prompt and its answer.

    Raises:
        BoxStringError: a task token other than the caption, ``<OD>``,
            ``<DENSE_REGION_CAPTION>``, region-to-text and phrase-grounding ones,
            or an answer that does not read (:func:`parse_florence2_od`).
    """
    prefix, suffix = prefix.strip(), suffix.strip()
    task = prefix.split('>', 1)[0] + '>'
    rest = prefix[len(task):].strip()
    if task in FLORENCE2_CAPTIONS + FLORENCE2_BOXES and rest:
        raise BoxStringError(f'{task} takes no input, got {rest!r} after it')
    if task in FLORENCE2_CAPTIONS:
        return Parsed([_text(_SPECIALS.sub('', suffix), 'caption')], [], [])
    if task in FLORENCE2_BOXES:
        return Parsed([], *parse_florence2_od(suffix))
    if task in FLORENCE2_REGION:
        box = _boxes(FLORENCE2, rest, 'prefix')
        if len(box) != 1:
            raise BoxStringError(f'{task} takes one box, got {len(box)}')
        return Parsed([], [_text(_SPECIALS.sub('', suffix), 'region text')], box)
    if task == FLORENCE2_GROUNDING:
        return Parsed([_text(rest, 'grounded caption')], *parse_florence2_od(suffix))
    raise BoxStringError(f'prefix {prefix!r}: the task is none of '
                         f'{list(FLORENCE2_CAPTIONS + FLORENCE2_BOXES + FLORENCE2_REGION)} '
                         f'or {FLORENCE2_GROUNDING}')


def format_florence2(texts: Sequence[str] = (), bins: Sequence[Sequence[int]] = (),
                     caption: str = None) -> Tuple[str, str]:
    """``(prefix, suffix)``: ``('<CAPTION>', caption)`` or ``('<OD>', …)`` of regions."""
    if (caption is None) == (not texts):
        raise BoxStringError('give a caption or region texts with bins, one of the two')
    if caption is not None:
        return '<CAPTION>', _text(caption, 'caption')
    return '<OD>', format_florence2_od(texts, bins)
