"""Data structures exchanged between pipeline, model and metrics, and the task definitions."""
from .data_sample import LocCaDataSample, box_frame, to_input_frame, to_original
from .task_batch import TaskBatch
from .tasks import (
    BOX_TASKS,
    DEFAULT_PREFIXES,
    PREDICT_TASKS,
    SCORE_TASKS,
    TRAIN_TASKS,
    PredictTask,
    check_eval_task,
    check_train_tasks,
    predict_task,
)

__all__ = [
    'LocCaDataSample', 'box_frame', 'to_input_frame', 'to_original', 'TaskBatch',
    'TRAIN_TASKS', 'BOX_TASKS', 'DEFAULT_PREFIXES', 'PREDICT_TASKS', 'PredictTask',
    'SCORE_TASKS', 'check_eval_task', 'check_train_tasks', 'predict_task'
]
