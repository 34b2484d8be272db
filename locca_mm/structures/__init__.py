"""Data structures exchanged between pipeline, model and metrics."""
from .data_sample import LocCaDataSample, box_frame
from .task_batch import TaskBatch

__all__ = ['LocCaDataSample', 'box_frame', 'TaskBatch']
