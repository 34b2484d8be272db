"""Predicted boxes land in original-image pixels; given boxes enter the input frame.

The decoder's logits are forced (its ``step`` is replaced by a script of tokens), so the
real decoding loop, its constraints, the head's parsing and ``to_original`` all run, and
the location tokens are known bins. Every expected box below is worked out by hand from
the documented rules (``BoxTokenizer``; docs/en/user_guides/model.md): bin ``b`` of ``K = 16``
decodes to its centre ``(b + 0.5) * side / K`` of the frame the encoder sees (the padded
input if padded), boxes are written ``(y1, x1, y2, x2)``, and the input frame maps to the
original image by dividing by the sample's ``scale_factor = (w_scale, h_scale)`` and clipping
to ``ori_shape``.
"""
import pytest
import torch

from locca_mm.structures import LocCaDataSample
from tests.test_models.utils import IMG, build_tiny

# The tiny tokenizer (tests/test_models/utils.py): ByteTokenizer, 16 bins.
# ByteTokenizer: pad 0, bos 1, eos 2, mask 3, byte b -> b + 4, <loc_k> -> 260 + k.
PAD, BOS, EOS = 0, 1, 2
LOC0 = 260


def _b(text: str):
    """Hand-made ByteTokenizer ids of ``text``."""
    return [c + 4 for c in text.encode('utf-8')]


def _loc(*bins):
    return [LOC0 + b for b in bins]


# Three frames (metainfo as mmcv's Resize / Pad write it) on the same 32 x 32 input.
#   tall:  a 64 w x 128 h image squeezed to 32 x 32: scale (0.5, 0.25).
#   padded: a 64 x 48 image resized by 0.5 to 32 w x 24 h, padded to 32 x 32: bins are
#           relative to the padded 32 x 32 frame.
#   square: a 64 x 64 image resized by 0.5.
FRAMES = dict(
    tall=dict(img_shape=(32, 32), ori_shape=(128, 64), scale_factor=(0.5, 0.25)),
    padded=dict(img_shape=(24, 32), pad_shape=(32, 32), ori_shape=(48, 64),
                scale_factor=(0.5, 0.5)),
    square=dict(img_shape=(32, 32), ori_shape=(64, 64), scale_factor=(0.5, 0.5)),
)

# Bins (y1, x1, y2, x2) forced per frame, and the box each must give, xyxy original pixels.
# In a 32-px frame bin b decodes to (b + 0.5) * 2 = 2b + 1 input pixels.
FORCED = dict(
    # y1: 3 -> 7 / 0.25 = 28; x1: 5 -> 11 / 0.5 = 22; y2: 12 -> 25 / 0.25 = 100;
    # x2: 9 -> 19 / 0.5 = 38.
    tall=([3, 5, 12, 9], [22., 28., 38., 100.]),
    # y1: 1 -> 3 / 0.5 = 6; x1: 0 -> 1 / 0.5 = 2; y2: 13 -> 27 / 0.5 = 54, clipped to the
    # 48-px image height; x2: 15 -> 31 / 0.5 = 62.
    padded=([1, 0, 13, 15], [2., 6., 62., 48.]),
    # y1: 0 -> 1 / 0.5 = 2; x1: 2 -> 5 / 0.5 = 10; y2: 15 -> 31 / 0.5 = 62; x2: 8 -> 17 / 0.5 = 34.
    square=([0, 2, 15, 8], [10., 2., 34., 62.]),
)


class ForcedDecoder:
    """Stands in for ``TextDecoder.step``: each ``generate`` call takes the next script
    (one token list per row) and the logits put all their mass on the script's token of
    that step. Records every call's prompt rows (the valid part of the first inputs)."""

    def __init__(self, vocab_size: int, scripts):
        self.vocab_size, self.scripts = vocab_size, list(scripts)
        self.prompts = []  # per generate call: list of prompt rows (bos + prompt)
        self._cache, self._script, self._t = None, None, 0

    def __call__(self, inputs, positions, memory, cache, key_valid, max_len):
        if cache is not self._cache:  # a new generate call (a new cache)
            self._cache, self._script, self._t = cache, self.scripts.pop(0), 0
            self.prompts.append([row[ok].tolist() for row, ok in zip(inputs, key_valid)])
        else:
            self._t += 1
        logits = torch.zeros(inputs.shape[0], inputs.shape[1], self.vocab_size)
        for row, tokens in enumerate(self._script):
            logits[row, -1, tokens[min(self._t, len(tokens) - 1)]] = 30.0
        return logits


def _samples(task, frames, **fields):
    samples = []
    for name in frames:
        ds = LocCaDataSample(metainfo=dict(FRAMES[name]))
        ds.task = task
        for k, v in fields.items():
            setattr(ds, k, v)
        samples.append(ds)
    return samples


@pytest.fixture(scope='module')
def model():
    m = build_tiny().eval()
    text = m.tokenizer.text_tokenizer
    # The layout the hand-made ids assume.
    assert (text.pad_id, text.bos_id, text.eos_id, text.loc_offset, m.tokenizer.num_bins) == \
        (PAD, BOS, EOS, LOC0, 16)
    return m


def _force(monkeypatch, model, scripts) -> ForcedDecoder:
    forced = ForcedDecoder(model.tokenizer.text_tokenizer.vocab_size, scripts)
    monkeypatch.setattr(model.head.decoder, 'step', forced)
    return forced


def _inputs(n):
    return torch.randn(n, 3, IMG, IMG)


def test_ref_boxes_are_the_forced_bins_in_original_pixels(monkeypatch, model):
    frames = list(FORCED)
    forced = _force(monkeypatch, model, [[_loc(*FORCED[f][0]) + [EOS] for f in frames]])
    samples = _samples('ref', frames, prompt_text='red circle')
    model.predict(_inputs(len(frames)), samples)
    # The prompt: bos, "ARef:", " red circle", " :" (the box is what is generated).
    assert forced.prompts[0] == [[BOS] + _b('ARef: red circle :')] * len(frames)
    for f, ds in zip(frames, samples):
        assert ds.pred_instances.bboxes.shape == (1, 4), f
        assert ds.pred_instances.bboxes[0].tolist() == FORCED[f][1], f
        assert 0.0 < float(ds.pred_instances.scores[0]) <= 1.0


def test_gcap_given_box_enters_the_input_frame_as_hand_computed_bins(monkeypatch, model):
    """The prompt box (original pixels) times the scale, quantised in the box frame."""
    frames = ['tall', 'padded', 'square']
    boxes = [
        # tall (x * 0.5, y * 0.25): x1 18 -> 9 -> bin 4; y1 22 -> 5.5 -> 2;
        # x2 50 -> 25 -> 12; y2 118 -> 29.5 -> 14.  yxyx: 2, 4, 14, 12.
        torch.tensor([18., 22., 50., 118.]),
        # padded (x 0.5, y 0.5, frame = the 32 x 32 pad): x1 3 -> 1.5 -> 0; y1 13 -> 6.5 -> 3;
        # x2 61 -> 30.5 -> 15; y2 47 -> 23.5 -> 11.  yxyx: 3, 0, 11, 15.
        torch.tensor([3., 13., 61., 47.]),
        # square (0.5): x1 30 -> 15 -> 7; y1 6 -> 3 -> 1; x2 42 -> 21 -> 10; y2 10 -> 5 -> 2.
        torch.tensor([30., 6., 42., 10.]),
    ]
    bins = [[2, 4, 14, 12], [3, 0, 11, 15], [1, 7, 2, 10]]
    forced = _force(monkeypatch, model, [[_b('cube') + [EOS]] * 3])
    samples = _samples('gcap', frames)
    for ds, box in zip(samples, boxes):
        ds.prompt_box = box
    model.predict(_inputs(3), samples)
    assert forced.prompts[0] == [[BOS] + _b('GCap:') + _loc(*b) + _b(':') for b in bins]
    for ds in samples:
        assert ds.pred_caption == 'cube' and 'pred_instances' not in ds


def test_gcap_without_a_box_decodes_it_into_original_pixels(monkeypatch, model):
    frames = list(FORCED)
    script = [_loc(*FORCED[f][0]) + _b(':') + _b(' ball') + [EOS] for f in frames]
    forced = _force(monkeypatch, model, [script])
    samples = _samples('gcap', frames)
    model.predict(_inputs(len(frames)), samples)
    assert forced.prompts[0] == [[BOS] + _b('GCap:')] * len(frames)
    for f, ds in zip(frames, samples):
        assert ds.pred_instances.bboxes[0].tolist() == FORCED[f][1], f
        assert ds.pred_caption == 'ball'


def test_detect_boxes_are_the_forced_bins_in_original_pixels(monkeypatch, model):
    frames = list(FORCED)
    boxes = [_loc(*FORCED[f][0]) for f in frames]
    texts = [_b(t) + [EOS] for t in ('one', 'two', 'three')]
    forced = _force(monkeypatch, model, [boxes, texts])
    samples = _samples('detect', frames)
    model.predict(_inputs(len(frames)), samples)
    # Boxes after "GCap:", then each box's text after "GCap: {box} :".
    assert forced.prompts[0] == [[BOS] + _b('GCap:')] * len(frames)
    assert forced.prompts[1] == [[BOS] + _b('GCap:') + box + _b(':') for box in boxes]
    for f, ds, t in zip(frames, samples, ('one', 'two', 'three')):
        assert ds.pred_instances.bboxes.tolist() == [FORCED[f][1]], f
        assert ds.pred_instances.texts == [t]


# --------------------------------------------------------------------------- flips
# mmcv's RandomFlip records ``flip`` / ``flip_direction`` and PackLocCaInputs keeps both
# in the metainfo, but ``to_original`` / ``to_input_frame`` (structures/data_sample.py)
# only divide / multiply by ``scale_factor``: a horizontally flipped sample's prediction
# stays mirrored. No shipped test pipeline flips, so no shipped evaluation is affected.
FLIPPED = dict(img_shape=(32, 32), ori_shape=(64, 64), scale_factor=(0.5, 0.5), flip=True,
               flip_direction='horizontal')


def test_ref_box_of_a_flipped_input_is_mirrored_back(monkeypatch, model):
    # Bins (0, 2, 15, 8) -> input frame x 5..17, y 1..31 (2b + 1). Undoing the flip in the
    # 32-px frame: x 32 - 17 = 15 .. 32 - 5 = 27; / 0.5 -> original [30, 2, 54, 62].
    _force(monkeypatch, model, [[_loc(0, 2, 15, 8) + [EOS]]])
    ds = LocCaDataSample(metainfo=dict(FLIPPED))
    ds.task, ds.prompt_text = 'ref', 'red circle'
    model.predict(_inputs(1), [ds])
    assert ds.pred_instances.bboxes[0].tolist() == [30., 2., 54., 62.]


def test_gcap_prompt_box_of_a_flipped_input_is_mirrored_in(monkeypatch, model):
    # Original [30, 6, 42, 10] -> x 15..21, y 3..5 in the input; flipped: x 32 - 21 = 11 ..
    # 32 - 15 = 17 -> bins x1 5, x2 8; y bins 1, 2.  yxyx: 1, 5, 2, 8.
    forced = _force(monkeypatch, model, [[_b('cube') + [EOS]]])
    ds = LocCaDataSample(metainfo=dict(FLIPPED))
    ds.task, ds.prompt_box = 'gcap', torch.tensor([30., 6., 42., 10.])
    model.predict(_inputs(1), [ds])
    assert forced.prompts[0] == [[BOS] + _b('GCap:') + _loc(1, 5, 2, 8) + _b(':')]
