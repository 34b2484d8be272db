"""LocCaDataPreprocessor (models/data_preprocessors/locca_data_preprocessor.py): images
normalised and stacked, each task's rows padded to that task's own batch maximum."""
import torch

from locca_mm.models.data_preprocessors import LocCaDataPreprocessor
from locca_mm.structures import LocCaDataSample
from locca_mm.tokenizers import TaskSequence


def _sample(**sequences) -> LocCaDataSample:
    sample = LocCaDataSample()
    sample.task_sequences = {task: TaskSequence(torch.tensor(ids), prefix, False)
                             for task, (ids, prefix) in sequences.items()}
    return sample


def test_rows_are_padded_per_task_and_images_normalised():
    samples = [_sample(cap=([5, 6, 7, 8, 9], 2), aref=([5, 6], 1)),
               _sample(cap=([5, 6, 7], 2), gcap=([1, 2, 3], 1))]
    images = [torch.full((3, 4, 4), 255, dtype=torch.uint8),
              torch.zeros(3, 4, 4, dtype=torch.uint8)]
    out = LocCaDataPreprocessor(pad_id=0, tasks=('cap', 'aref'))(
        dict(inputs=images, data_samples=samples), training=True)
    assert out['inputs'].shape == (2, 3, 4, 4)
    assert out['inputs'][0].eq(1).all() and out['inputs'][1].eq(-1).all()  # (x - 127.5) / 127.5
    assert set(out['task_batches']) == {'cap', 'aref'}  # gcap is not one of the model's tasks
    cap = out['task_batches']['cap']
    assert cap.tokens.tolist() == [[5, 6, 7, 8, 9], [5, 6, 7, 0, 0]]
    assert cap.prefix_len.tolist() == [2, 2]
    aref = out['task_batches']['aref']
    assert aref.tokens.tolist() == [[5, 6]]  # short region rows keep their own length
    assert out['data_samples'][0].metainfo['batch_input_shape'] == (4, 4)


def test_no_sequences_no_text():
    samples = [LocCaDataSample()]
    out = LocCaDataPreprocessor()(dict(inputs=[torch.zeros(3, 2, 2, dtype=torch.uint8)],
                                       data_samples=samples))
    assert out['task_batches'] is None
