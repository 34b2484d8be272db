"""Datasets in their native formats, the synthetic default, and the pipeline transforms."""
from .base import InvalidRecordError, LocCaBaseDataset
from .coco import CocoCaptionDataset
from .holistic import HolisticClassification, MMPretrainReaderDataset
from .holistic_text import HolisticCaption, HolisticVQA
from .jsonl import JsonlDataset
from .mixing import WeightedConcatDataset
from .refcoco import RefCOCODataset
from .shapes_classification import ShapesClassification
from .shards import ShardedTarDataset
from .synthetic_shapes import SyntheticShapes
from .transforms import *  # noqa: F401,F403
from .visual_genome import VisualGenomeDataset

__all__ = [
    'InvalidRecordError', 'LocCaBaseDataset', 'CocoCaptionDataset', 'JsonlDataset',
    'HolisticCaption', 'HolisticClassification', 'HolisticVQA', 'MMPretrainReaderDataset',
    'RefCOCODataset', 'ShapesClassification', 'ShardedTarDataset', 'SyntheticShapes',
    'VisualGenomeDataset', 'WeightedConcatDataset'
]
