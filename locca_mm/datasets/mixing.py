"""WeightedConcatDataset: several datasets mixed with given ratios."""
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset

from locca_mm.registry import DATASETS


@DATASETS.register_module()
class WeightedConcatDataset:
    """Draw from several datasets in fixed proportions, as one map-style dataset.

    Index ``i`` maps to a (dataset, sample) pair through a permutation drawn
    once from ``seed``, so the mix is deterministic, works with every
    mmengine sampler and DDP, and resumes exactly. A dataset with a larger
    share than its size allows is repeated; a smaller one is sub-sampled.

    Args:
        datasets (list): dataset configs or objects.
        ratios (Sequence[float]): relative weights (normalised).
        length (int, optional): length of the mix. Defaults to the sum of the
            datasets' lengths.
        seed (int): seed of the assignment. Defaults to 0.
        tokenizer (dict, optional): given to every dataset config without one.
    """

    def __init__(self, datasets: Sequence[Union[dict, BaseDataset]], ratios: Sequence[float],
                 length: Optional[int] = None, seed: int = 0, tokenizer: Optional[dict] = None):
        if len(datasets) != len(ratios) or not datasets:
            raise ValueError(f'need one ratio per dataset, got {len(datasets)} datasets and '
                             f'{len(ratios)} ratios')
        if any(r < 0 for r in ratios) or sum(ratios) <= 0:
            raise ValueError(f'ratios must be non-negative and not all zero, got {ratios}')
        if tokenizer is not None:
            datasets = [dict(d, tokenizer=d.get('tokenizer') or tokenizer)
                        if isinstance(d, dict) else d for d in datasets]
        self.datasets: List = [DATASETS.build(d) if isinstance(d, dict) else d
                               for d in datasets]
        self.ratios = np.asarray(ratios, dtype=np.float64) / float(sum(ratios))
        self.length = int(length or sum(len(d) for d in self.datasets))
        self.seed = seed
        self.metainfo = dict(self.datasets[0].metainfo)
        counts = np.floor(self.ratios * self.length).astype(np.int64)
        counts[np.argsort(-self.ratios)[:self.length - counts.sum()]] += 1
        rng = np.random.default_rng(seed)
        which, sample = [], []
        for d, (dataset, count) in enumerate(zip(self.datasets, counts)):
            n = len(dataset)
            if count and not n:
                raise ValueError(f'dataset {d} is empty but has ratio {ratios[d]}')
            reps = -(-count // n) if n else 0
            idx = np.concatenate([rng.permutation(n) for _ in range(reps)])[:count] \
                if count else np.zeros(0, dtype=np.int64)
            which.append(np.full(count, d, dtype=np.int32))
            sample.append(idx.astype(np.int64))
        order = rng.permutation(self.length)
        self._which = np.concatenate(which)[order]
        self._sample = np.concatenate(sample)[order]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, idx: int):
        return self.datasets[int(self._which[idx])][int(self._sample[idx])]

    def source_of(self, idx: int) -> int:
        """Which dataset index ``idx`` draws from."""
        return int(self._which[idx])
