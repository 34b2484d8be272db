"""LocCaTokenizer: the Cap / ARef / GCap task sequences, built and read back.

One config entry serves the data pipeline (:meth:`LocCaTokenizer.build`) and
the model (:meth:`LocCaTokenizer.prompt`, :meth:`LocCaTokenizer.parse_box`),
so the prefixes, the separator and the number of location bins are set once.
"""
import hashlib
import logging
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from torch import Tensor

from locca_mm.registry import TOKENIZERS
from locca_mm.structures.tasks import BOX_TASKS, DEFAULT_PREFIXES, TRAIN_TASKS

from .base import TextTokenizer
from .box import BoxTokenizer, ImgShape

DEFAULT_TEXT_TOKENIZER = dict(type='ByteTokenizer')
DEFAULT_BOX_TOKENIZER = dict(type='BoxTokenizer', num_bins=100)
DEFAULT_MAX_LENGTH = dict(cap=64, aref=48, gcap=48)
#: What each location task is trained to predict after its prefix (the paper: the whole
#: prompt, text and box, in the order of the sequence).
DEFAULT_LOSS_ON = dict(zip(BOX_TASKS, (('text', 'box'), ('box', 'text'))))
BOX_LEN = 4

__all__ = ['LocCaTokenizer', 'TaskSequence', 'DEFAULT_PREFIXES', 'DEFAULT_LOSS_ON']


class TaskSequence(NamedTuple):
    """One task's token sequence.

    Attributes:
        tokens (Tensor): ``[T]`` LongTensor, ``prompt + target``.
        prefix_len (int): Leading tokens the decoder is not trained on.
        truncated (bool): The text was cut to fit ``max_length``.
        loss_end (int, optional): Tokens from here on carry no loss either
            (a ``loss_on`` that leaves the second part untrained); None: the
            loss runs to the end.
    """
    tokens: Tensor
    prefix_len: int
    truncated: bool
    loss_end: Optional[int] = None


class _Parts(NamedTuple):
    """A sequence as ``prefix + first + second``, the two parts in the order the task
    predicts them (aref: text then `` : box <eos>``; gcap: box then ``: text <eos>``).
    Only the text part is ever cut."""
    prefix: List[int]
    first: List[int]
    second: List[int]
    text_first: bool  # which part holds the text


@TOKENIZERS.register_module()
class LocCaTokenizer:
    """Builds the LocCa task sequences from text and boxes, and reads them back.

    The tasks, their default prefixes, sequences and inference prompts are
    defined once in :mod:`locca_mm.structures.tasks` (its table).

    As in the paper, both parts of a location task are predicted, in sequence:
    ARef its region text and then the box, GCap the box and then the text; only
    the task prefix is given. ``loss_on`` narrows this to one part (the paper's
    Table 7 ablations): ``dict(aref=('box',))`` trains ARef on `` : {box} <eos>``
    only (the text becomes part of the prompt), ``dict(gcap=('text',))`` trains
    GCap on its text only (the box becomes part of the prompt), and
    ``dict(aref=('text',))`` / ``dict(gcap=('box',))`` leave the second part
    untrained (:attr:`TaskSequence.loss_end`).

    ``{box}`` is 4 location tokens (:class:`BoxTokenizer` bins in its
    ``order``). Segments are encoded separately and concatenated, so an
    inference prompt (:meth:`prompt`) is token for token the start of the
    training sequence whatever the text tokenizer's merges: a given text (REC)
    or box (region captioning) is forced as the start of the answer and the
    rest decoded; GCap with no box decodes box and text (detection).

    Text is stripped of surrounding whitespace. A sequence longer than
    ``max_length[task]`` (eos included) has its text cut: the box is never
    cut, and eos is kept only for ARef, where the sequence still ends with a
    complete box. Cuts are never silent: :meth:`build` flags them
    (``TaskSequence.truncated``, counted by the data pipeline) and
    :meth:`prompt` warns once and counts them in :attr:`truncated_prompts`.

    Args:
        text_tokenizer (dict | TextTokenizer): Config (built through
            ``TOKENIZERS`` with ``num_bins`` set to the box tokenizer's
            ``num_bins``) or a built tokenizer with that many location tokens.
            Defaults to ``dict(type='ByteTokenizer')``.
        box_tokenizer (dict | BoxTokenizer): Defaults to
            ``dict(type='BoxTokenizer', num_bins=100)``.
        prefixes (dict): Task name -> prefix string; the keys are the tasks
            in use (a subset of cap, aref, gcap). A prefix may be '' (no
            prefix tokens, as in the Cap and CoCa baselines).
        separator (str): Between text and box. Defaults to ':'.
        max_length (int | dict): Longest sequence per task, eos included;
            an int applies to every task. Defaults to cap 64, aref 48, gcap 48
            (``tools/analysis_tools/sequence_lengths.py`` measures a dataset's).
        loss_on (dict): Per location task, the parts trained on: a non-empty
            subset of ``('text', 'box')``. Defaults to both for each
            (:data:`DEFAULT_LOSS_ON`); a task left out keeps its default.

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
                 max_length: Union[int, Dict[str, int]] = DEFAULT_MAX_LENGTH,
                 loss_on: Optional[Dict[str, Sequence[str]]] = None):
        self.box_tokenizer = self._build_box(box_tokenizer)
        self.text_tokenizer = self._build_text(text_tokenizer, self.box_tokenizer.num_bins)
        unknown = [k for k in prefixes if k not in TRAIN_TASKS]
        if unknown or not prefixes:
            raise ValueError(f'prefixes must name tasks among {list(TRAIN_TASKS)}, '
                             f'got {list(prefixes)}')
        self.tasks: Tuple[str, ...] = tuple(t for t in TRAIN_TASKS if t in prefixes)
        self.prefixes = {t: prefixes[t] for t in self.tasks}
        self.separator = separator
        self.max_length = self._max_lengths(max_length)
        self.loss_on = self._loss_on(loss_on or {})
        self.truncated_prompts = 0
        self._signature: Optional[str] = None
        self._prefix_ids = {t: self._spell(p, f'prefix of task "{t}"')
                            for t, p in self.prefixes.items()}
        self._sep_ids = self._spell(separator, 'separator')
        # The separator after region text is spelled with its leading space.
        self._spaced_sep_ids = self._spell(' ' + separator, 'separator') if separator else []
        self._check_room()

    @property
    def num_bins(self) -> int:
        """Location bins per image side K: the number of location tokens in the vocabulary."""
        return self.box_tokenizer.num_bins

    #: A text every signature spells: two tokenizers that split it apart differ.
    SIGNATURE_PROBE = 'a small Red circle, left of 2 squares: the dog-walker\'s café.'

    @property
    def signature(self) -> str:
        """A digest of all that decides the sequences: the text tokenizer (class, vocabulary
        size, special and location ids, its spelling of a probe text), bins, order (and
        quantiser), prefixes, separator, maximum lengths and ``loss_on``. The pipeline stamps it on
        every sample and the model checks it: a pipeline and a model with different
        tokenizers stop with an error instead of training on each other's ids."""
        if self._signature is None:
            text = self.text_tokenizer
            parts = (type(text).__name__, text.vocab_size, text.pad_id, text.bos_id,
                     text.eos_id, text.mask_id, text.loc_offset, self.num_bins,
                     getattr(self.box_tokenizer, 'signature', self.box_tokenizer.order),
                     sorted(self.prefixes.items()), self.separator, sorted(self.max_length.items()),
                     sorted(self.loss_on.items()), text.encode(self.SIGNATURE_PROBE))
            self._signature = hashlib.sha1(repr(parts).encode()).hexdigest()[:12]
        return self._signature

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
            given = cfg.pop('num_bins', num_bins)
            if given != num_bins:
                raise ValueError(
                    f'text_tokenizer.num_bins={given} differs from the box tokenizer\'s '
                    f'num_bins={num_bins}; leave it out, it is set from the box tokenizer')
            cfg['num_bins'] = num_bins
            return TOKENIZERS.build(cfg)
        if not isinstance(cfg, TextTokenizer):
            raise TypeError(f'text_tokenizer must be a TextTokenizer or its config, got {cfg!r}')
        if cfg.num_bins != num_bins:
            raise ValueError(f'text tokenizer has num_bins={cfg.num_bins} but the box '
                             f'tokenizer has num_bins={num_bins}; they must be equal')
        return cfg

    def _max_lengths(self, max_length: Union[int, Dict[str, int]]) -> Dict[str, int]:
        if isinstance(max_length, int):
            return {t: max_length for t in self.tasks}
        unknown = [k for k in max_length if k not in TRAIN_TASKS]
        missing = [t for t in self.tasks if t not in max_length]
        if unknown or missing:
            raise ValueError(f'max_length must give every task of {list(self.tasks)} '
                             f'(unknown: {unknown}, missing: {missing})')
        return {t: int(max_length[t]) for t in self.tasks}

    @staticmethod
    def _loss_on(loss_on: Dict[str, Sequence[str]]) -> Dict[str, Tuple[str, ...]]:
        unknown = [k for k in loss_on if k not in DEFAULT_LOSS_ON]
        if unknown:
            raise ValueError(f'loss_on takes the location tasks {list(DEFAULT_LOSS_ON)}, '
                             f'got {unknown}')
        out = {}
        for task, default in DEFAULT_LOSS_ON.items():
            parts = tuple(loss_on.get(task, default))
            if not parts or set(parts) - {'text', 'box'}:
                raise ValueError(f'loss_on["{task}"] must be a non-empty subset of '
                                 f"('text', 'box'), got {parts}")
            out[task] = tuple(p for p in default if p in parts)  # the sequence's order
        return out

    def _spell(self, text: str, what: str) -> List[int]:
        """Ids of a fixed string; ValueError if the tokenizer cannot spell it."""
        ids = self.text_tokenizer.encode(text)
        if self.text_tokenizer.unk_id is not None and self.text_tokenizer.unk_id in ids:
            raise ValueError(f'the {what} {text!r} has characters the text tokenizer cannot '
                             f'spell (unknown piece); train it with them')
        return ids

    @property
    def _placeholder_box(self) -> List[int]:
        """Stands in for a box where only its length counts."""
        return [self.text_tokenizer.loc_offset] * BOX_LEN

    def _check_room(self) -> None:
        """Every task keeps room for one text token next to its fixed parts."""
        for task in self.tasks:
            fixed = len(self._join(self._parts(task, [], self._placeholder_box)))
            if fixed + 1 > self.max_length[task]:
                raise ValueError(
                    f'max_length["{task}"]={self.max_length[task]} leaves no room for text: '
                    f'the prefix, separator, box and eos take {fixed} tokens')

    # -- sequences ---------------------------------------------------------------------------

    def _parts(self, task: str, text_ids: List[int], box_ids: List[int],
               question: Optional[str] = None) -> _Parts:
        prefix = self._prefix_ids[task]
        eos = [self.text_tokenizer.eos_id]
        if task == 'cap':
            if question is not None:  # VQA: the question and separator join the prompt
                prefix = prefix + self._text_ids('question', question) + self._spaced_sep_ids
            return _Parts(prefix, text_ids, eos, True)
        if task == 'aref':
            return _Parts(prefix, text_ids, self._spaced_sep_ids + box_ids + eos, True)
        return _Parts(prefix, box_ids, self._sep_ids + text_ids + eos, False)

    @staticmethod
    def _join(parts: _Parts) -> List[int]:
        return parts.prefix + parts.first + parts.second

    def _fit(self, task: str, parts: _Parts) -> Tuple[_Parts, bool]:
        """``parts`` with the text cut to fit ``max_length[task]``; (parts, truncated)."""
        over = len(self._join(parts)) - self.max_length[task]
        if over <= 0:
            return parts, False
        if task == 'aref':  # the box and eos stay: the sequence still ends with a box
            return parts._replace(first=parts.first[:len(parts.first) - over]), True
        # The text did not end where it is cut, so no eos: cap and gcap lose their last
        # ``over`` tokens, eos first.
        if parts.text_first:  # cap: first = text, second = eos
            return parts._replace(first=parts.first[:len(parts.first) - (over - 1)],
                                  second=[]), True
        return parts._replace(second=parts.second[:len(parts.second) - over]), True

    def _loss_span(self, task: str, parts: _Parts) -> Tuple[int, Optional[int]]:
        """(prefix_len, loss_end) of a sequence: where its trained tokens start and end."""
        start = len(parts.prefix)
        if task == 'cap':
            return start, None
        trained = self.loss_on[task]
        first = 'text' if parts.text_first else 'box'
        if first not in trained:  # only the second part: the first joins the prompt
            return start + len(parts.first), None
        if len(trained) == 1:  # only the first part
            return start, start + len(parts.first)
        return start, None

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
        # Region text follows a prefix word, hence its leading space (and so does an answer,
        # which follows its question's separator).
        return self.text_tokenizer.encode(text.strip() if task == 'cap' else ' ' + text.strip())

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
            bins = self.box_tokenizer.encode(box.reshape(1, BOX_LEN), img_shape)[0]
        except ValueError as e:
            raise ValueError(f'task "{task}": {e}') from e
        return self.text_tokenizer.loc_ids(bins).tolist()

    def build(self, task: str, text: Optional[str] = None, box: Optional[Tensor] = None,
              img_shape: Optional[ImgShape] = None,
              question: Optional[str] = None) -> TaskSequence:
        """The training sequence of one task.

        Args:
            task (str): One of :attr:`tasks`.
            text (str): The caption (cap) or region text (aref, gcap); with a
                ``question``, its answer.
            box (Tensor, optional): ``[4]`` xyxy pixels of the region (aref, gcap).
            img_shape (tuple, optional): ``(h, w)`` of the image the box is on.
            question (str, optional): cap only: a question that joins the
                prompt, ``prefix ␣{question} ␣: ␣{answer} <eos>`` (VQA); only the
                answer and eos are trained on.

        Returns:
            TaskSequence: ``tokens: [T]`` with ``T <= max_length[task]``.
        """
        self._check_task(task)
        if question is not None and task != 'cap':
            raise ValueError(f'only the cap task takes a question, not "{task}"')
        text_ids = self._text_ids('answer' if question is not None else task, text)
        parts = self._parts(task, text_ids, self._box_ids(task, box, img_shape), question)
        parts, truncated = self._fit(task, parts)
        prefix_len, loss_end = self._loss_span(task, parts)
        return TaskSequence(torch.tensor(self._join(parts), dtype=torch.long), prefix_len,
                            truncated, loss_end)

    def prompt(self, task: str, text: Optional[str] = None, box: Optional[Tensor] = None,
               img_shape: Optional[ImgShape] = None, question: Optional[str] = None) -> Tensor:
        """The inference prompt ``[P]``: what the decoder is given before it generates.

        cap: the prefix (with a ``question``: prefix, question and separator;
        the answer is generated); aref: prefix, region text and separator (the box is
        generated); gcap with a box: prefix, box and separator (the text is
        generated); gcap without one: the prefix (box and text are generated).
        Equals the start of ``build(task, text, box, img_shape).tokens``. An ARef
        text too long for ``max_length['aref']`` is cut as :meth:`build` cuts it;
        the first cut logs a warning and every cut is counted in
        :attr:`truncated_prompts`.
        """
        self._check_task(task)
        if task == 'aref':
            # Cut the text as build() does; only the length of the box matters there.
            parts, truncated = self._fit(task, self._parts(task, self._text_ids(task, text),
                                                           self._placeholder_box))
            if truncated:
                self._warn_cut(text)
            ids = parts.prefix + parts.first + self._spaced_sep_ids
        elif task == 'cap' and question is not None:
            ids = self._parts(task, [], [], question=question).prefix
        elif task == 'gcap' and box is not None:
            ids = self._prefix_ids[task] + self._box_ids(task, box, img_shape) + self._sep_ids
        else:
            ids = self._prefix_ids[task]
        return torch.tensor(ids, dtype=torch.long)

    def _warn_cut(self, text: str) -> None:
        self.truncated_prompts += 1
        if self.truncated_prompts == 1:
            print_log(f'an ARef prompt was cut to max_length["aref"]='
                      f'{self.max_length["aref"]} tokens: {text!r} is longer. Raise the '
                      'tokenizer\'s max_length["aref"]; further cuts are not logged but '
                      'counted (LocCaTokenizer.truncated_prompts, the metric\'s "truncated")',
                      logger='current', level=logging.WARNING)

    # -- reading back ------------------------------------------------------------------------

    def parse_box(self, ids: Tensor, img_shape: ImgShape) -> Tensor:
        """Boxes ``[..., 4]`` (float xyxy pixels) of location ids ``[..., 4]``.

        Raises:
            ValueError: an id is not a location token.
        """
        return self.box_tokenizer.decode(self.text_tokenizer.loc_bins(ids), img_shape)

    def parse_text(self, ids: Tensor) -> str:
        """Text of ``ids: [T]`` up to the first eos, without surrounding spaces."""
        return self.text_tokenizer.decode(ids).strip()

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(text={self.text_tokenizer!r}, box={self.box_tokenizer!r}, '
                f'prefixes={self.prefixes}, separator={self.separator!r}, '
                f'max_length={self.max_length}, loss_on={self.loss_on})')
