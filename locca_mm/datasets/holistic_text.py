"""Captioning and VQA transfers read by mmpretrain (see :mod:`.holistic`)."""
import os.path as osp
from collections import OrderedDict
from typing import List, Sequence

from locca_mm.registry import DATASETS

from .base import check_text, invalid
from .holistic import MMPretrainReaderDataset

__all__ = ['HolisticCaption', 'HolisticVQA', 'answer_counts']


@DATASETS.register_module()
class HolisticCaption(MMPretrainReaderDataset):
    """Captioning: one sample per image with every reference caption.

    mmpretrain's caption readers give one data info per caption (Karpathy
    train files) or per image with a list of captions (Karpathy val/test
    files of ``COCOCaption``); both are grouped by image here, so training
    draws one of an image's captions per step and a test-mode sample
    (``task='cap'``) carries all references for ``CaptionMetric``.

    Args:
        reader (dict): ``mmpretrain.COCOCaption`` (the Karpathy-split json of
            LAVIS/BLIP: a list of ``{image, caption}``) or
            ``mmpretrain.Flickr30kCaption`` (Karpathy's ``dataset_flickr30k.json``
            and a ``split``).
        **kwargs: :class:`MMPretrainReaderDataset` arguments.
    """

    def load_data_list(self) -> List[dict]:
        reader = self.read()
        images: 'OrderedDict[str, dict]' = OrderedDict()

        def parse(item):
            index, info = item
            source = self.record_source(info, index)
            if not info.get('img_path'):
                raise invalid(source, 'no image path')
            caps = info.get('gt_caption')
            caps = list(caps) if isinstance(caps, (list, tuple)) else [caps]
            if not caps:
                raise invalid(source, 'no caption')
            caps = [check_text(c, source, 'caption') for c in caps]
            entry = images.get(info['img_path'])
            if entry is None:
                entry = images[info['img_path']] = dict(
                    img_path=info['img_path'], source=source, captions=[],
                    img_id=info.get('image_id'))
                if self.test_mode:
                    entry['task'] = 'cap'
            entry['captions'].extend(caps)
            return None  # the images are collected above

        self.parse_records(enumerate(reader.data_list), parse)
        return list(images.values())


def answer_counts(weights: Sequence[float], max_answers: int = 100) -> List[int]:
    """How many annotators gave each answer, from mmpretrain's ``gt_answer_weight``
    (count / number of answers): the smallest whole counts with those proportions.

    Raises:
        ValueError: no such counts with at most ``max_answers`` answers.
    """
    weights = [float(w) for w in weights]
    if not weights or any(w <= 0 for w in weights):
        raise ValueError(f'answer weights must be positive, got {weights}')
    for total in range(1, max_answers + 1):
        counts = [w * total for w in weights]
        if all(abs(c - round(c)) < 1e-6 and round(c) >= 1 for c in counts) and \
                sum(round(c) for c in counts) == total:
            return [int(round(c)) for c in counts]
    raise ValueError(f'answer weights {weights} are not counts of at most {max_answers} '
                     'answers')


@DATASETS.register_module()
class HolisticVQA(MMPretrainReaderDataset):
    """Visual question answering: the question joins the Cap prompt, the answer is the caption.

    Each data info has ``question`` and ``captions``: every annotator's
    answer (VQAv2: an answer given by k of the 10 annotators appears k
    times, so a random draw follows their frequency; GQA and OCR-VQA: the one
    answer). ``BuildTaskSequences`` then trains ``Cap: ␣{question} ␣: ␣{answer}
    <eos>`` with the loss on the answer only. In test mode a sample is a
    ``task='vqa'`` prediction with mmpretrain's ground truth, ``gt_answer``
    (a list for VQAv2, a string for GQA and OCR-VQA) and ``gt_answer_weight``
    where the reader gives it, which its ``VQAAcc`` and ``GQAAcc`` score.

    Args:
        reader (dict): ``mmpretrain.COCOVQA`` (VQAv2 question + annotation
            files), ``mmpretrain.GQA`` or ``mmpretrain.OCRVQA``.
        **kwargs: :class:`MMPretrainReaderDataset` arguments.
    """

    def load_data_list(self) -> List[dict]:
        reader = self.read()

        def parse(item):
            index, info = item
            source = self.record_source(info, index)
            if info.get('question_id') is not None:  # VQAv2
                source = f'{source.split("#")[0]}#question_id={info["question_id"]}'
            elif info.get('imageURL') and info.get('img_path'):  # OCR-VQA: by its book
                book = osp.splitext(osp.basename(info['img_path']))[0]
                source = f'{source.split("#")[0]}#{book} ({info.get("question")!r})'
            if not info.get('img_path'):
                raise invalid(source, 'no image path')
            question = check_text(info.get('question'), source, 'question')
            answers, weights = info.get('gt_answer'), info.get('gt_answer_weight')
            if answers is None:
                raise invalid(source, 'no answer')
            answers = [answers] if isinstance(answers, str) else list(answers)
            if not answers:
                raise invalid(source, 'no answer')
            answers = [check_text(a, source, 'answer') for a in answers]
            captions = answers
            if weights is not None and len(answers) > 1:
                if len(weights) != len(answers):
                    raise invalid(source, f'{len(answers)} answers but {len(weights)} weights')
                try:
                    counts = answer_counts(weights)
                except ValueError as e:
                    raise invalid(source, str(e)) from None
                captions = [a for a, k in zip(answers, counts) for _ in range(k)]
            out = dict(img_path=info['img_path'], source=source, question=question,
                       captions=captions)
            if info.get('question_id') is not None:
                out['question_id'] = info['question_id']
            if self.test_mode:
                out.update(task='vqa', gt_answer=info['gt_answer'])
                if weights is not None:
                    out['gt_answer_weight'] = list(weights)
            return out

        return self.parse_records(enumerate(reader.data_list), parse)
