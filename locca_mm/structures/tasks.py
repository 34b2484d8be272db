"""The LocCa tasks, defined once: what is trained, what can be predicted, and with which prompt.

Training tasks (:data:`TRAIN_TASKS`) are the three sequences the decoder
learns; each has a default prefix (:data:`DEFAULT_PREFIXES`) and a sequence
layout (:data:`SEQUENCE_FORMATS`). Prediction tasks (:data:`PREDICT_TASKS`)
are what a user asks a trained model for; each continues the prompt of one
training task (:attr:`PredictTask.train_task`) under one decoding constraint.

==== ============== ====================================== ======================
task trains         training sequence (after the prefix)   inference prompt
==== ============== ====================================== ======================
cap  ``Cap:``       ``{caption} <eos>``                    ``Cap:``
aref ``ARef:``      ``␣{text} ␣: {box} <eos>``             ``ARef: ␣{text} ␣:``
gcap ``GCap:``      ``{box} : ␣{text} <eos>``              ``GCap: {box} :`` or ``GCap:``
==== ============== ====================================== ======================

Transfer tasks reuse these sequences: a question (VQA) is part of a Cap
sequence's prompt, ``Cap: ␣{question} ␣: ␣{answer} <eos>`` (the answer alone
is trained on); detection by the decoder writes every object of an image in
one GCap sequence, ``GCap: {box} : ␣{text} {box} : ␣{text} ... <eos>``.

The tokenizer (:class:`~locca_mm.tokenizers.LocCaTokenizer`), the
head (:class:`~locca_mm.models.heads.LocCaHead`), the data pipeline
(``BuildTaskSequences``), the decoding constraints
(:func:`~locca_mm.models.decoding.constraint_for`) and the inferencers all
read their task names from here.
"""
from typing import Dict, Iterable, NamedTuple, Tuple

#: The sequences the decoder is trained on, in the order a batch holds them.
TRAIN_TASKS: Tuple[str, ...] = ('cap', 'aref', 'gcap')
#: Training tasks whose sequence carries a box (4 location tokens).
BOX_TASKS: Tuple[str, ...] = ('aref', 'gcap')
#: The default prefix of each training task (a config may set others, '' included).
DEFAULT_PREFIXES: Dict[str, str] = dict(cap='Cap:', aref='ARef:', gcap='GCap:')
#: Layout of each training sequence after its prefix (see the module docstring).
SEQUENCE_FORMATS: Dict[str, str] = dict(cap='{caption} <eos>', aref=' {text} : {box} <eos>',
                                        gcap='{box} : {text} <eos>')


class PredictTask(NamedTuple):
    """One thing a trained model can be asked for.

    Attributes:
        name (str): the task's name (``data_sample.task``, ``test_cfg.task``).
        train_task (str): the training task whose prompt it continues.
        constraint (str): what may be generated: ``'text'`` (text tokens then
            eos), ``'box'`` (four location tokens forming a box, then eos) or
            ``'box_text'`` (a box, the separator, then text) or ``'boxes_texts'``
            (up to ``max_boxes`` box + separator + text groups, then eos).
        needs_text (bool): the prompt carries a text (``data_sample.prompt_text``).
        takes_box (bool): the prompt may carry a box (``data_sample.prompt_box``).
        predicts_box (bool): the prediction has boxes (``pred_instances``).
    """
    name: str
    train_task: str
    constraint: str
    needs_text: bool = False
    takes_box: bool = False
    predicts_box: bool = False


#: The prediction tasks, by name.
PREDICT_TASKS: Dict[str, PredictTask] = {
    'cap': PredictTask('cap', 'cap', 'text'),
    'ref': PredictTask('ref', 'aref', 'box', needs_text=True, predicts_box=True),
    'gcap': PredictTask('gcap', 'gcap', 'text', takes_box=True),
    'detect': PredictTask('detect', 'gcap', 'box_text', predicts_box=True),
    # Holistic transfer: the answer to ``prompt_text`` (a question) after a Cap prefix.
    'vqa': PredictTask('vqa', 'cap', 'text', needs_text=True),
    # Detection by the decoder: every object of the image in one GCap sequence.
    'detect_seq': PredictTask('detect_seq', 'gcap', 'boxes_texts', predicts_box=True),
}
#: Scoring tasks: what a model returns for evaluation while pretraining (few-shot
#: probe, zero-shot classification, perplexity) instead of a decoded sequence; each
#: teacher-forces the decoder, or reads the encoder, once. Name -> what the sample gets.
SCORE_TASKS: Dict[str, str] = {
    # The encoder's tokens averaged: ``pred_features`` [D] (a linear probe's input).
    'features': 'pred_features',
    # The summed log-likelihood of each text of ``candidates`` as the sample's Cap caption:
    # ``pred_class_scores`` [C] and ``pred_label`` (the most likely one).
    'class_scores': 'pred_class_scores',
    # The negative log-likelihood of the sample's ``gt_captions`` as Cap captions, summed
    # over their tokens (``caption_nll``), and how many tokens (``caption_tokens``).
    'caption_nll': 'caption_nll',
}
#: Other names accepted for a prediction task (the training task's own name).
PREDICT_ALIASES: Dict[str, str] = {'aref': 'ref'}


def predict_task(name: str) -> PredictTask:
    """The :class:`PredictTask` called ``name`` (or one of :data:`PREDICT_ALIASES`).

    Raises:
        ValueError: an unknown task, naming the valid ones.
    """
    spec = PREDICT_TASKS.get(PREDICT_ALIASES.get(name, name))
    if spec is None:
        raise ValueError(f'unknown task {name!r}: expected one of {", ".join(PREDICT_TASKS)}')
    return spec


def check_eval_task(name: str) -> str:
    """``name`` if it is a prediction task (:data:`PREDICT_TASKS`, or an alias) or a
    scoring task (:data:`SCORE_TASKS`).

    Raises:
        ValueError: any other name, naming the valid ones.
    """
    if name in SCORE_TASKS or PREDICT_ALIASES.get(name, name) in PREDICT_TASKS:
        return name
    raise ValueError(f'unknown evaluation task {name!r}: expected one of '
                     f'{", ".join(list(PREDICT_TASKS) + list(SCORE_TASKS))}')


def check_train_tasks(tasks: Iterable[str], allow_empty: bool = False) -> Tuple[str, ...]:
    """``tasks`` as a tuple, checked against :data:`TRAIN_TASKS`.

    Raises:
        ValueError: an unknown name, or no task at all (unless ``allow_empty``).
    """
    tasks = tuple(tasks)
    unknown = sorted(set(tasks) - set(TRAIN_TASKS))
    if unknown or (not tasks and not allow_empty):
        raise ValueError(f'unknown tasks {unknown}: choose from {", ".join(TRAIN_TASKS)}')
    return tasks
