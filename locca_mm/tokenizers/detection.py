"""Detection as one GCap sequence: every object of an image, box + text pairs, then eos.

``GCap: {box} : ␣{text} {box} : ␣{text} ... <eos>`` — a location token after a
text starts the next pair (text never holds location tokens), so the sequence
reads back without a pair separator. With one object it is token for token
:meth:`LocCaTokenizer.build('gcap', ...) <LocCaTokenizer.build>`: each pair is
spelled by the tokenizer's own GCap pieces (box, separator, region text).
"""
from typing import List, NamedTuple, Sequence, Tuple

import torch
from torch import Tensor

from .box import ImgShape
from .locca import BOX_LEN, LocCaTokenizer, TaskSequence

__all__ = ['DetectionSequence', 'build_detection_sequence', 'parse_detection_sequence',
           'pair_ids', 'gcap_prefix_ids']

#: The paper's COCO detection limit: at most 25 box + text pairs per image.
DEFAULT_MAX_BOXES = 25


class DetectionSequence(NamedTuple):
    """A built detection sequence and what did not fit in it.

    Attributes:
        sequence (TaskSequence): ``tokens`` = prefix + pairs + eos,
            ``prefix_len`` = the GCap prefix (every pair and eos are trained
            on), ``truncated``: pairs were left out to fit ``max_length['gcap']``.
        kept (list[int]): indices (into the given objects) of the pairs written, in order.
        dropped (int): objects left out (beyond ``max_boxes`` or ``max_length``).
    """
    sequence: TaskSequence
    kept: List[int]
    dropped: int


def gcap_prefix_ids(tokenizer: LocCaTokenizer) -> List[int]:
    """The GCap prefix ids (the detection prompt: :meth:`LocCaTokenizer.prompt` of gcap)."""
    return tokenizer.prompt('gcap').tolist()


def pair_ids(tokenizer: LocCaTokenizer, text: str, box: Tensor, img_shape: ImgShape) -> List[int]:
    """``{box} : ␣{text}`` of one object: 4 location ids, the separator, the region text.

    The same pieces :meth:`LocCaTokenizer.build` joins for a GCap sequence.

    Raises:
        ValueError: an empty text, or a box that is not 4 values with x2 >= x1, y2 >= y1.
    """
    box = torch.as_tensor(box, dtype=torch.float64)
    return (tokenizer._box_ids('gcap', box, img_shape) + list(tokenizer._sep_ids) +
            tokenizer._text_ids('gcap', text))


def build_detection_sequence(tokenizer: LocCaTokenizer, texts: Sequence[str],
                             boxes: Sequence, img_shape: ImgShape,
                             max_boxes: int = DEFAULT_MAX_BOXES) -> DetectionSequence:
    """The training sequence of an image's objects, in the order given.

    The first ``max_boxes`` objects are written; whole trailing pairs are then
    left out until the sequence (eos included) fits ``max_length['gcap']``: a
    pair is never cut. An image with no object is ``prefix <eos>``.

    Args:
        tokenizer (LocCaTokenizer): the model's tokenizer (with a gcap prefix).
        texts (Sequence[str]): the region text of each object.
        boxes: ``[N, 4]`` xyxy pixels of each object, in the frame of ``img_shape``.
        img_shape (tuple): ``(h, w)`` of the frame the encoder sees.
        max_boxes (int): the most pairs written.

    Raises:
        ValueError: ``texts`` and ``boxes`` differ in length; an empty text or
            an inverted box (the message names the object's index).
    """
    if max_boxes < 1:
        raise ValueError(f'max_boxes must be >= 1, got {max_boxes}')
    boxes = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, BOX_LEN)
    if len(texts) != len(boxes):
        raise ValueError(f'{len(texts)} texts but {len(boxes)} boxes')
    prefix, eos = gcap_prefix_ids(tokenizer), tokenizer.text_tokenizer.eos_id
    room = tokenizer.max_length['gcap'] - len(prefix) - 1
    ids, kept = list(prefix), []
    for i in range(min(len(texts), max_boxes)):
        try:
            pair = pair_ids(tokenizer, texts[i], boxes[i], img_shape)
        except ValueError as e:
            raise ValueError(f'object {i}: {e}') from None
        if len(pair) > room:
            break  # this pair and the ones after it do not fit
        ids += pair
        room -= len(pair)
        kept.append(i)
    truncated = len(kept) < min(len(texts), max_boxes)
    seq = TaskSequence(torch.tensor(ids + [eos], dtype=torch.long), len(prefix), truncated)
    return DetectionSequence(seq, kept, len(texts) - len(kept))


def parse_detection_sequence(tokenizer: LocCaTokenizer, ids: Tensor, img_shape: ImgShape
                             ) -> Tuple[Tensor, List[str], List[Tuple[int, int]]]:
    """Box + text pairs of a detection sequence's tokens after the prefix.

    Args:
        ids (Tensor): ``[T]`` tokens after the GCap prefix; reading stops at
            the first eos (or padding). A trailing incomplete pair is left out.
        img_shape (tuple): ``(h, w)`` of the frame the boxes were written in.

    Returns:
        tuple: boxes ``[K, 4]`` (float xyxy pixels of that frame), texts ``[K]``
        and ``(start, end)`` of each pair in ``ids``.
    """
    vocab = tokenizer.text_tokenizer
    ids = torch.as_tensor(ids, dtype=torch.long).flatten().tolist()
    stop = next((t for t, i in enumerate(ids) if i in (vocab.eos_id, vocab.pad_id)), len(ids))
    ids, sep = ids[:stop], len(tokenizer._sep_ids)
    is_loc = vocab.is_loc(torch.tensor(ids, dtype=torch.long)).tolist() if ids else []
    spans, start = [], 0
    while start + BOX_LEN + sep < len(ids) and all(is_loc[start:start + BOX_LEN]):
        end = start + BOX_LEN + sep
        while end < len(ids) and not is_loc[end]:
            end += 1
        spans.append((start, end))
        start = end
    loc = torch.tensor([ids[s:s + BOX_LEN] for s, _ in spans], dtype=torch.long)
    boxes = tokenizer.parse_box(loc.reshape(-1, BOX_LEN), img_shape)
    texts = [tokenizer.parse_text(torch.tensor(ids[s + BOX_LEN + sep:e], dtype=torch.long))
             for s, e in spans]
    return boxes, texts, spans
