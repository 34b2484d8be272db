"""locca_mm.labeling: region boxes for image-text pairs from an open-vocabulary detector
(the paper's data recipe; ``tools/dataset_converters/pseudo_label.py``).

:class:`PseudoLabeler` turns pairs into LocCa records with an :class:`OpenVocabDetector`
(:class:`OwlViTDetector`, :class:`MMDetGroundingDetector`); :mod:`.shard_labeling` runs
it over WebDataset shards, resumably and on several GPUs.
"""
from .pseudo_labeler import (
    STOPWORDS,
    Detections,
    MMDetGroundingDetector,
    OpenVocabDetector,
    OwlViTDetector,
    PseudoLabeler,
    extract_queries,
    read_pairs,
)

__all__ = ['STOPWORDS', 'extract_queries', 'Detections', 'OpenVocabDetector', 'OwlViTDetector',
           'MMDetGroundingDetector', 'PseudoLabeler', 'read_pairs']
