"""VisualGenomeDataset (datasets/visual_genome.py): region descriptions."""
import os.path as osp

import numpy as np

from locca_mm.datasets import (
    VisualGenomeDataset,
)
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import DATA, TOKENIZER, train_pipeline

register_all_modules()


def test_visual_genome_regions():
    ds = VisualGenomeDataset(ann_file='region_descriptions.json',
                             image_data_file='image_data.json', data_root=osp.join(DATA, 'vg'),
                             pipeline=train_pipeline(tasks=('aref', 'gcap')), tokenizer=TOKENIZER)
    assert len(ds) == 4
    info = ds.get_data_info(1)
    assert info['img_path'].endswith('VG_100K_2/2.jpg')
    assert info['regions']['texts'] == ['the green square', 'the red square']
    np.testing.assert_allclose(info['regions']['bboxes'][1], [10, 36, 30, 56])
    assert info['captions'] == []
    assert set(ds[1]['data_samples'].task_sequences) == {'aref', 'gcap'}
