"""LocCaTokenizer: the Cap / ARef / GCap task sequences, built and read back.

One config entry serves the data pipeline (:meth:`LocCaTokenizer.build`) and
the model (:meth:`LocCaTokenizer.prompt`, :meth:`LocCaTokenizer.parse_box`),
so the prefixes, the separator and the number of location bins are set once.
"""
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import torch
from torch import Tensor

from locca_mm.registry import TOKENIZERS

from .base import TextTokenizer
from .box import BoxTokenizer, ImgShape

TASKS = ('cap', 'aref', 'gcap')
DEFAULT_TEXT_TOKENIZER = dict(type='ByteTokenizer')
DEFAULT_BOX_TOKENIZER = dict(type='BoxTokenizer', num_bins=100)
DEFAULT_PREFIXES = dict(cap='Cap:', aref='ARef:', gcap='GCap:')
DEFAULT_MAX_LENGTH = dict(cap=64, aref=24, gcap=24)
BOX_LEN = 4


class TaskSequence(NamedTuple):
    """One task's token sequence.

    Attributes:
        tokens (Tensor): ``[T]`` LongTensor, ``prompt + target``.
        prefix_len (int): Leading tokens the decoder is not trained on.
        truncated (bool): The text was cut to fit ``max_length``.
    """
    tokens: Tensor
    prefix_len: int
    truncated: bool


class _Parts(NamedTuple):
    """A sequence as ``head + text + tail``; only ``text`` is ever cut."""
    head: List[int]
    text: List[int]
    tail: List[int]
    prefix_len: int  # of the uncut sequence, counted from the start of head


@TOKENIZERS.register_module()
class LocCaTokenizer:
    """Builds the LocCa task sequences from text and boxes, and reads them back.

    ==== =============================================== ===========================
    task prompt (not trained on)                         target (trained on)
    ==== =============================================== ===========================
    cap  ``Cap:``                                        ``{caption} <eos>``
    aref ``ARef:``                                       ``␣{text} ␣: {box} <eos>``
    gcap ``GCap: {box} :``                               ``␣{text} <eos>``
    ==== =============================================== ===========================

    ``{box}`` is 4 location tokens (:class:`BoxTokenizer` bins in its
    ``order``). Segments are encoded separately and concatenated, so the
    inference prompt (:meth:`prompt`) is token for token the start of the
    training sequence whatever the text tokenizer's merges. For ARef the
    region text belongs to the target in training and to the prompt at
    inference (``prompt('aref', text)`` ends with the separator).

    Text is stripped of surrounding whitespace. A sequence longer than
    ``max_length[task]`` (eos included) has its text cut: the box is never
    cut, and eos is kept only for ARef, where the sequence still ends with a
    complete box.

    Args:
        text_tokenizer (dict | TextTokenizer): Config (built through
            ``TOKENIZERS`` with ``num_loc_tokens`` set to the box tokenizer's
            ``num_bins``) or a built tokenizer with that many location tokens.
            Defaults to ``dict(type='ByteTokenizer')``.
        box_tokenizer (dict | BoxTokenizer): Defaults to
            ``dict(type='BoxTokenizer', num_bins=100)``.
        prefixes (dict): Task name -> prefix string; the keys are the tasks
            in use (a subset of cap, aref, gcap). A prefix may be '' (no
            prefix tokens, as in the Cap and CoCa baselines).
        separator (str): Between text and box. Defaults to ':'.
        max_length (int | dict): Longest sequence per task, eos included;
            an int applies to every task. Defaults to cap 64, aref 24, gcap 24.

    Raises:
        ValueError: mismatched number of location tokens, an unknown task
            name, a prefix or separator the text tokenizer cannot spell, or
            a ``max_length`` that leaves no room for text.
    """

    def __init__(self,
                 text_tokenizer: Union[dict, TextTokenizer] = DEFAULT_TEXT_TOKENIZER,
                 box_tokenizer: Union[dict, BoxTokenizer] = DEFAULT_BOX_TOKENIZER,
                 prefixes: Dict[str, str] = DEFAULT_PREFIXES,
                 separator: str = ':',
                 max_length: Union[int, Dict[str, int]] = DEFAULT_MAX_LENGTH):
        self.box = self._build_box(box_tokenizer)
        self.text = self._build_text(text_tokenizer, self.box.num_bins)
        unknown = [k for k in prefixes if k not in TASKS]
        if unknown or not prefixes:
            raise ValueError(f'prefixes must name tasks among {list(TASKS)}, got {list(prefixes)}')
        self.tasks: Tuple[str, ...] = tuple(t for t in TASKS if t in prefixes)
        self.prefixes = {t: prefixes[t] for t in self.tasks}
        self.separator = separator
        self.max_length = self._max_lengths(max_length)
        self._prefix_ids = {t: self._spell(p, f'prefix of task "{t}"')
                            for t, p in self.prefixes.items()}
        self._sep_ids = self._spell(separator, 'separator')
        # The separator after region text is spelled with its leading space.
        self._spaced_sep_ids = self._spell(' ' + separator, 'separator') if separator else []
        self._check_room()

    # -- construction ------------------------------------------------------------------------

    @staticmethod
    def _build_box(cfg: Union[dict, BoxTokenizer]) -> BoxTokenizer:
        box = TOKENIZERS.build(cfg) if isinstance(cfg, dict) else cfg
        if not hasattr(box, 'num_bins') or not callable(getattr(box, 'encode', None)):
            raise TypeError(f'box_tokenizer must be a BoxTokenizer or its config, got {box!r}')
        return box

    @staticmethod
    def _build_text(cfg: Union[dict, TextTokenizer], num_bins: int) -> TextTokenizer:
        if isinstance(cfg, dict):
            cfg = dict(cfg)
            given = cfg.get('num_loc_tokens', num_bins)
            if given != num_bins:
                raise ValueError(
                    f'text_tokenizer.num_loc_tokens={given} differs from the box tokenizer\'s '
                    f'num_bins={num_bins}; leave num_loc_tokens out, it is set from num_bins')
            cfg['num_loc_tokens'] = num_bins
            return TOKENIZERS.build(cfg)
        if not isinstance(cfg, TextTokenizer):
            raise TypeError(f'text_tokenizer must be a TextTokenizer or its config, got {cfg!r}')
        if cfg.num_loc_tokens != num_bins:
            raise ValueError(f'text tokenizer has num_loc_tokens={cfg.num_loc_tokens} but the box '
                             f'tokenizer has num_bins={num_bins}; they must be equal')
        return cfg

    def _max_lengths(self, max_length: Union[int, Dict[str, int]]) -> Dict[str, int]:
        if isinstance(max_length, int):
            return {t: max_length for t in self.tasks}
        unknown = [k for k in max_length if k not in TASKS]
        missing = [t for t in self.tasks if t not in max_length]
        if unknown or missing:
            raise ValueError(f'max_length must give every task of {list(self.tasks)} '
                             f'(unknown: {unknown}, missing: {missing})')
        return {t: int(max_length[t]) for t in self.tasks}

    def _spell(self, text: str, what: str) -> List[int]:
        """Ids of a fixed string; ValueError if the tokenizer cannot spell it."""
        ids = self.text.encode(text)
        if self.text.unk_id is not None and self.text.unk_id in ids:
            raise ValueError(f'the {what} {text!r} has characters the text tokenizer cannot '
                             f'spell (unknown piece); train it with them')
        return ids

    @property
    def _placeholder_box(self) -> List[int]:
        """Stands in for a box where only its length counts."""
        return [self.text.loc_offset] * BOX_LEN

    def _check_room(self) -> None:
        """Every task keeps room for one text token next to its fixed parts."""
        for task in self.tasks:
            parts = self._parts(task, [], self._placeholder_box)
            fixed = len(parts.head) + len(parts.tail)
            if fixed + 1 > self.max_length[task]:
                raise ValueError(
                    f'max_length["{task}"]={self.max_length[task]} leaves no room for text: '
                    f'the prefix, separator, box and eos take {fixed} tokens')

    # -- sequences ---------------------------------------------------------------------------

    def _parts(self, task: str, text_ids: List[int], box_ids: List[int]) -> _Parts:
        prefix = self._prefix_ids[task]
        eos = [self.text.eos_id]
        if task == 'cap':
            return _Parts(prefix, text_ids, eos, len(prefix))
        if task == 'aref':
            return _Parts(prefix, text_ids, self._spaced_sep_ids + box_ids + eos, len(prefix))
        head = prefix + box_ids + self._sep_ids
        return _Parts(head, text_ids, eos, len(head))

    def _fit(self, task: str, parts: _Parts) -> Tuple[List[int], bool]:
        """``head + text + tail`` cut to ``max_length[task]``; (ids, truncated)."""
        limit = self.max_length[task]
        if len(parts.head) + len(parts.text) + len(parts.tail) <= limit:
            return parts.head + parts.text + parts.tail, False
        if task == 'aref':
            keep = limit - len(parts.head) - len(parts.tail)
            return parts.head + parts.text[:keep] + parts.tail, True
        # The text did not end where it is cut, so no eos.
        return parts.head + parts.text[:limit - len(parts.head)], True

    def _check_task(self, task: str) -> None:
        if task not in self.tasks:
            raise ValueError(f'unknown task "{task}"; valid tasks: {", ".join(self.tasks)}')

    def _text_ids(self, task: str, text: Optional[str]) -> List[int]:
        if text is None:
            raise ValueError(f'task "{task}" needs a text')
        if not isinstance(text, str):
            raise TypeError(f'text for task "{task}" must be a str, got {type(text).__name__}')
        if not text.strip():
            raise ValueError(f'empty text for task "{task}"')
        # Region text follows a prefix word, hence its leading space.
        return self.text.encode(text.strip() if task == 'cap' else ' ' + text.strip())

    def _box_ids(self, task: str, box: Optional[Tensor],
                 img_shape: Optional[ImgShape]) -> List[int]:
        if task == 'cap':
            return []
        if box is None:
            raise ValueError(f'task "{task}" needs a box')
        if img_shape is None:
            raise ValueError(f'task "{task}" needs img_shape=(h, w) to place its box')
        box = torch.as_tensor(box, dtype=torch.float64)
        if box.numel() != BOX_LEN:
            raise ValueError(f'task "{task}" needs one box of 4 values (x1, y1, x2, y2), '
                             f'got shape {tuple(box.shape)}')
        try:
            bins = self.box.encode(box.reshape(1, BOX_LEN), img_shape)[0]
        except ValueError as e:
            raise ValueError(f'task "{task}": {e}') from e
        return self.text.loc_ids(bins).tolist()

    def build(self, task: str, text: Optional[str] = None, box: Optional[Tensor] = None,
              img_shape: Optional[ImgShape] = None) -> TaskSequence:
        """The training sequence of one task.

        Args:
            task (str): One of :attr:`tasks`.
            text (str): The caption (cap) or region text (aref, gcap).
            box (Tensor, optional): ``[4]`` xyxy pixels of the region (aref, gcap).
            img_shape (tuple, optional): ``(h, w)`` of the image the box is on.

        Returns:
            TaskSequence: ``tokens: [T]`` with ``T <= max_length[task]``.
        """
        self._check_task(task)
        parts = self._parts(task, self._text_ids(task, text),
                            self._box_ids(task, box, img_shape))
        ids, truncated = self._fit(task, parts)
        return TaskSequence(torch.tensor(ids, dtype=torch.long), parts.prefix_len, truncated)

    def prompt(self, task: str, text: Optional[str] = None, box: Optional[Tensor] = None,
               img_shape: Optional[ImgShape] = None) -> Tensor:
        """The inference prompt ``[P]``: what the decoder is given before it generates.

        cap: the prefix; aref: prefix, region text and separator (the box is
        generated); gcap: prefix, box and separator (the text is generated).
        Equals ``build(task, text, box, img_shape).tokens[:P]``.
        """
        self._check_task(task)
        if task == 'aref':
            # Cut the text as build() does; only the length of the box matters there.
            parts = self._parts(task, self._text_ids(task, text), self._placeholder_box)
            ids, _ = self._fit(task, parts)
            ids = ids[:len(ids) - BOX_LEN - 1]
        elif task == 'gcap':
            ids = self._parts(task, [], self._box_ids(task, box, img_shape)).head
        else:
            ids = self._prefix_ids[task]
        return torch.tensor(ids, dtype=torch.long)

    # -- reading back ------------------------------------------------------------------------

    def parse_box(self, ids: Tensor, img_shape: ImgShape) -> Tensor:
        """Boxes ``[..., 4]`` (float xyxy pixels) of location ids ``[..., 4]``.

        Raises:
            ValueError: an id is not a location token.
        """
        return self.box.decode(self.text.loc_bins(ids), img_shape)

    def parse_text(self, ids: Tensor) -> str:
        """Text of ``ids: [T]`` up to the first eos, without surrounding spaces."""
        return self.text.decode(ids).strip()

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(text={self.text!r}, box={self.box!r}, '
                f'prefixes={self.prefixes}, separator={self.separator!r}, '
                f'max_length={self.max_length})')
