"""Each task's loss is the cross-entropy over exactly the positions after its prefix.

Rows go through the real pipeline (``BuildTaskSequences`` -> ``PackLocCaInputs`` -> the
data preprocessor -> ``LocCa.loss``). The expected loss is ``F.cross_entropy`` of the
decoder's logits at the positions that carry loss, picked here by hand from token ids
written out by hand from the ByteTokenizer's layout (byte b -> b + 4, eos 2,
``<loc_k>`` -> 260 + k) and the task formats of ``structures/tasks.py``:

    cap   "Cap:" | "{caption}" <eos>
    aref  "ARef:" | " {text}" " :" {4 loc} <eos>
    gcap  "GCap:" | {4 loc} ":" " {text}" <eos>

(the loss covers everything after ``|``), never from ``TaskBatch.loss_mask``.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from locca_mm.datasets.transforms import BuildTaskSequences, PackLocCaInputs
from tests.test_models.utils import IMG, build_tiny

PAD, EOS, LOC0 = 0, 2, 260
CAP_MAX = 32  # the tiny tokenizer's max_length['cap']: parallel rows are padded to it


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


def _b(text: str):
    return [c + 4 for c in text.encode('utf-8')]


# Two images; every row fits the tiny tokenizer's max_length (cap 32, aref / gcap 24), so
# nothing is cut. Region boxes (xyxy, 32 x 32 image, 16 bins: bin = floor(c / 2)):
#   [4, 10, 20, 30]  -> x1 2, y1 5, x2 10, y2 15   -> (y1, x1, y2, x2) = 5, 2, 15, 10
#   [6, 1, 27, 17]   -> x1 3, y1 0, x2 13, y2 8    -> 0, 3, 8, 13
#   [17, 9, 23, 25]  -> x1 8, y1 4, x2 11, y2 12   -> 4, 8, 12, 11
IMAGES = [
    dict(caption='two green triangles',
         aref=('red circle', [4., 10., 20., 30.], [5, 2, 15, 10]),
         gcap=('blue square', [6., 1., 27., 17.], [0, 3, 8, 13])),
    dict(caption='one yellow star on the left',
         aref=('the star', [17., 9., 23., 25.], [4, 8, 12, 11]),
         gcap=('a star', [4., 10., 20., 30.], [5, 2, 15, 10])),
]


def hand_row(task: str, image: dict):
    """(token ids, first position that carries loss) of one row, by hand."""
    if task == 'cap':
        prefix, rest = _b('Cap:'), _b(image['caption']) + [EOS]
    elif task == 'aref':
        text, _, bins = image['aref']
        prefix = _b('ARef:')
        rest = _b(' ' + text) + _b(' :') + [LOC0 + k for k in bins] + [EOS]
    else:
        text, _, bins = image['gcap']
        prefix = _b('GCap:')
        rest = [LOC0 + k for k in bins] + _b(':') + _b(' ' + text) + [EOS]
    return prefix + rest, len(prefix)


def pipeline_batch(model, images):
    """The images through BuildTaskSequences, PackLocCaInputs and the data preprocessor."""
    build = BuildTaskSequences(tokenizer=model.tokenizer, caption='first')
    pack = PackLocCaInputs()
    rng = np.random.default_rng(0)
    packed = []
    for image in images:
        results = dict(img=rng.integers(0, 256, (IMG, IMG, 3), dtype=np.uint8),
                       img_shape=(IMG, IMG), ori_shape=(IMG, IMG), scale_factor=(1.0, 1.0),
                       captions=[image['caption']],
                       sampled_regions={t: dict(text=image[t][0], box=image[t][1])
                                        for t in ('aref', 'gcap')})
        packed.append(pack(build(results)))
    data = dict(inputs=[p['inputs'] for p in packed],
                data_samples=[p['data_samples'] for p in packed])
    return model.data_preprocessor(data, True)


def randomised(parallel_ratio: float):
    """A tiny LocCa whose (zero-initialised) logit layer is random, so that which positions
    are averaged changes the loss."""
    model = build_tiny(parallel_ratio=parallel_ratio).train()
    torch.manual_seed(1)
    torch.nn.init.normal_(model.head.decoder.logit_layer.weight, std=0.5)
    return model


def expected_loss(model, memory, task, images, parallel=False):
    """Token-mean cross-entropy over the hand-picked positions of every row."""
    logits, targets = [], []
    for i, image in enumerate(images):
        ids, start = hand_row(task, image)
        tokens = torch.tensor(ids)
        if parallel:  # the row as the model runs it: padded to the caption max_length
            tokens = F.pad(tokens, (0, CAP_MAX - len(ids)), value=PAD)
        out = model.head.decoder(tokens[None], memory.index_select(torch.tensor([i])),
                                 parallel=torch.tensor([parallel]) if parallel else None)
        logits.append(out[0, start:len(ids)])  # after the prefix, up to and with eos
        targets.append(torch.tensor(ids[start:]))
    return F.cross_entropy(torch.cat(logits), torch.cat(targets)), logits, targets


@pytest.mark.parametrize('task', ['cap', 'aref', 'gcap'])
def test_one_row_loss_is_cross_entropy_after_the_prefix(task):
    model = randomised(parallel_ratio=0.0)
    batch = pipeline_batch(model, IMAGES[:1])
    ids, start = hand_row(task, IMAGES[0])
    assert batch['task_batches'][task].tokens[0].tolist() == ids  # the pipeline spelled it so
    losses = model(**batch, mode='loss')
    memory = model.head.project_memory(model.extract_feat(batch['inputs']))
    expected, _, _ = expected_loss(model, memory, task, IMAGES[:1])
    assert losses[f'loss_{task}'].item() == pytest.approx(float(expected), rel=1e-5, abs=1e-6)
    # The positions matter: the prefix included, or eos left out, gives another value.
    logits = model.head.decoder(torch.tensor([ids]), memory)[0]
    with_prefix = F.cross_entropy(logits[1:], torch.tensor(ids[1:]))
    without_eos = F.cross_entropy(logits[start:-1], torch.tensor(ids[start:-1]))
    for wrong in (with_prefix, without_eos):
        assert abs(float(wrong) - float(expected)) > 1e-3


def test_parallel_cap_row_loss_covers_the_caption_and_eos():
    """CapPa rows (``parallel_ratio=1``: every Cap row while training): all inputs masked,
    padded to the caption max_length, loss on caption + eos only (not the prefix, not the
    padding)."""
    model = randomised(parallel_ratio=1.0)
    batch = pipeline_batch(model, IMAGES[:1])
    losses = model(**batch, mode='loss')
    memory = model.head.project_memory(model.extract_feat(batch['inputs']))
    expected, _, _ = expected_loss(model, memory, 'cap', IMAGES[:1], parallel=True)
    assert losses['loss_cap'].item() == pytest.approx(float(expected), rel=1e-5, abs=1e-6)
    # Not the autoregressive loss of the same row, nor one over the padding too.
    causal, _, _ = expected_loss(model, memory, 'cap', IMAGES[:1])
    assert abs(float(causal) - float(expected)) > 1e-3
    ids, start = hand_row('cap', IMAGES[0])
    padded = torch.tensor(ids + [PAD] * (CAP_MAX - len(ids)))
    logits = model.head.decoder(padded[None], memory, parallel=torch.tensor([True]))[0]
    with_pad = F.cross_entropy(logits[start:], padded[start:])
    assert abs(float(with_pad) - float(expected)) > 1e-3


@pytest.mark.parametrize('task', ['cap', 'aref', 'gcap'])
def test_rows_of_different_lengths_are_averaged_per_token(task):
    """Two rows of different lengths (so one is padded): the loss is the mean over all
    trained tokens of both rows, not the mean of the two rows' means."""
    model = randomised(parallel_ratio=0.0)
    batch = pipeline_batch(model, IMAGES)
    rows = [hand_row(task, image)[0] for image in IMAGES]
    assert len(rows[0]) != len(rows[1])
    losses = model(**batch, mode='loss')
    memory = model.head.project_memory(model.extract_feat(batch['inputs']))
    expected, logits, targets = expected_loss(model, memory, task, IMAGES)
    assert losses[f'loss_{task}'].item() == pytest.approx(float(expected), rel=1e-5, abs=1e-6)
    row_means = sum(F.cross_entropy(lg, tg) for lg, tg in zip(logits, targets)) / 2
    assert abs(float(row_means) - float(expected)) > 1e-4
