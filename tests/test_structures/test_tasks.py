"""The task table: one definition that the tokenizer, head, pipeline, decoding and
inferencers agree with."""
import pytest

from locca_mm.structures import tasks


def test_prediction_tasks_continue_training_tasks():
    assert set(tasks.BOX_TASKS) <= set(tasks.TRAIN_TASKS)
    for name, spec in tasks.PREDICT_TASKS.items():
        assert spec.name == name and spec.train_task in tasks.TRAIN_TASKS
        assert spec.constraint in ('text', 'box', 'box_text', 'boxes_texts')
        # A task that uses a box trains a sequence that carries one.
        if spec.takes_box or spec.predicts_box:
            assert spec.train_task in tasks.BOX_TASKS
    for alias, name in tasks.PREDICT_ALIASES.items():
        assert alias in tasks.TRAIN_TASKS and name in tasks.PREDICT_TASKS
        assert tasks.predict_task(alias) is tasks.PREDICT_TASKS[name]


def test_every_training_task_has_a_prefix_and_a_format():
    assert set(tasks.DEFAULT_PREFIXES) == set(tasks.TRAIN_TASKS)
    assert set(tasks.SEQUENCE_FORMATS) == set(tasks.TRAIN_TASKS)
    for task in tasks.BOX_TASKS:
        assert '{box}' in tasks.SEQUENCE_FORMATS[task]


def test_the_users_of_the_table_read_it():
    from locca_mm.datasets.transforms.sequences import BuildTaskSequences
    from locca_mm.tokenizers import locca
    assert set(locca.DEFAULT_LOSS_ON) == set(tasks.BOX_TASKS)
    assert locca.DEFAULT_PREFIXES is tasks.DEFAULT_PREFIXES
    tok = locca.LocCaTokenizer()
    assert tok.tasks == tasks.TRAIN_TASKS
    assert BuildTaskSequences(tokenizer=tok).tasks == tasks.TRAIN_TASKS


def test_constraints_follow_the_table():
    from locca_mm.models.decoding import (
        BoxConstraint,
        DetectionConstraint,
        GroundedCaptionConstraint,
        TextConstraint,
        constraint_for,
    )
    from locca_mm.tokenizers import LocCaTokenizer
    kinds = dict(text=TextConstraint, box=BoxConstraint, box_text=GroundedCaptionConstraint,
                 boxes_texts=DetectionConstraint)
    tok = LocCaTokenizer()
    for name, spec in tasks.PREDICT_TASKS.items():
        assert isinstance(constraint_for(name, tok), kinds[spec.constraint])


def test_unknown_names_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match='cap, ref, gcap, detect'):
        tasks.predict_task('segment')
    with pytest.raises(ValueError, match='cap, aref, gcap'):
        tasks.check_train_tasks(['cap', 'vqa'])
    with pytest.raises(ValueError):
        tasks.check_train_tasks([])
    assert tasks.check_train_tasks([], allow_empty=True) == ()
