"""BoxTokenizer: boxes in pixels <-> one location bin per coordinate.

Three quantisers, and two presets that match the location tokens of other models
(``K`` bins, a coordinate ``c`` on an image side of length ``s``, a bin ``b``):

- default: any ``K``, y1 x1 y2 x2, ``mode='floor'``: bin ``floor(c * K / s)``,
  decoded to the bin centre ``(b + 0.5) * s / K``.
- ``preset='paligemma'``: ``K = 1024``, y1 x1 y2 x2, ``mode='round'``: bin
  ``round(c / s * 1023)``, decoded ``b / 1023 * s``; tokens ``<loc0000>`` ..
  ``<loc1023>``.
- ``preset='florence2'``: ``K = 1000``, x1 y1 x2 y2, ``mode='floor_bin_size'``: bin
  ``floor(c / (s / 1000))``, decoded ``(b + 0.5) * (s / 1000)``; tokens ``<loc_0>`` ..
  ``<loc_999>``.

Every encode clips the bin to ``[0, K - 1]``. ``round`` rounds half to even, as
``tf.round`` does in big_vision's ``pp/proj/paligemma/segmentation.py``
(``tf.round(bbox * 1023)`` of a box normalised to [0, 1]), whose evaluator decodes
``tokens / 1023``. ``floor_bin_size`` is the arithmetic of Florence-2's
``BoxQuantizer`` (``processing_florence2.py``: ``(x / (w / 1000)).floor().clamp(0, 999)``,
decoded ``(b + 0.5) * (w / 1000)``); it gives the bins of ``floor`` except where
floating point puts a coordinate on an exact bin edge on the other side of it. All
arithmetic is float64; the references compute in their inputs' dtype (float32 in
practice), which can put a coordinate within a float32 rounding of a bin edge in the
neighbouring bin (``docs/en/user_guides/data.md`` gives the measured rates).
"""
import re
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from locca_mm.registry import TOKENIZERS

ImgShape = Union[Tuple[int, int], Tensor]

# Positions of each order's coordinates in an (x1, y1, x2, y2) box; both
# permutations are their own inverse, so one table serves encode and decode.
ORDERS = {'yxyx': (1, 0, 3, 2), 'xyxy': (0, 1, 2, 3)}
MODES = ('floor', 'round', 'floor_bin_size')

#: The presets: bins, order, quantiser and how a location token is spelled.
PRESETS = {
    'paligemma': dict(num_bins=1024, order='yxyx', mode='round', token='<loc{:04d}>'),
    'florence2': dict(num_bins=1000, order='xyxy', mode='floor_bin_size', token='<loc_{}>'),
}
DEFAULT_TOKEN = '<loc_{}>'


@TOKENIZERS.register_module()
class BoxTokenizer:
    """Quantises box coordinates into ``num_bins`` bins per image side.

    With the default ``mode='floor'`` a coordinate ``c`` on a side of length
    ``size`` falls in bin ``floor(c / size * num_bins)`` (the far edge
    ``c = size`` joins the last bin); a bin decodes to its centre
    ``(b + 0.5) * size / num_bins``, so a round trip moves a coordinate by at
    most half a bin. Coordinates are pixels of the image the model sees
    (``img_shape = (h, w)``). The module docstring lists the other modes and
    the presets.

    Args:
        num_bins (int): Bins per side, i.e. the number of location tokens.
            Required unless ``preset`` gives it.
        order (str): Order of the 4 bins: 'yxyx' (y1, x1, y2, x2), as the
            LocCa paper writes boxes, or 'xyxy'. Defaults to 'yxyx' (the
            preset's with a preset).
        mode (str): 'floor' (default), 'round' (``round(c / size * (K - 1))``,
            decoded ``b / (K - 1) * size``: bins 0 and K - 1 are the image's
            edges) or 'floor_bin_size' (``floor(c / (size / K))``).
        preset (str, optional): 'paligemma' or 'florence2' (:data:`PRESETS`):
            sets ``num_bins``, ``order``, ``mode`` and the token spelling;
            an argument given beside it must agree with it.

    Raises:
        ValueError: an unknown preset, order or mode, ``num_bins < 1`` (or 2
            for 'round'), or an argument that contradicts the preset.
    """

    def __init__(self, num_bins: Optional[int] = None, order: Optional[str] = None,
                 mode: Optional[str] = None, preset: Optional[str] = None):
        given = dict(num_bins=num_bins, order=order, mode=mode)
        if preset is not None:
            if preset not in PRESETS:
                raise ValueError(f'preset must be one of {sorted(PRESETS)}, got {preset!r}')
            clash = {k: v for k, v in given.items() if v is not None and v != PRESETS[preset][k]}
            if clash:
                sets = {k: PRESETS[preset][k] for k in clash}
                raise ValueError(f'preset {preset!r} sets {sets}, but {clash} was given')
            given = {k: PRESETS[preset][k] for k in given}
        num_bins, order, mode = given['num_bins'], given['order'] or 'yxyx', \
            given['mode'] or 'floor'
        low = 2 if mode == 'round' else 1
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < low:
            raise ValueError(f'num_bins must be an int >= {low}, got {num_bins!r}')
        if order not in ORDERS:
            raise ValueError(f'order must be one of {sorted(ORDERS)}, got {order!r}')
        if mode not in MODES:
            raise ValueError(f'mode must be one of {list(MODES)}, got {mode!r}')
        self.num_bins, self.order, self.mode, self.preset = num_bins, order, mode, preset
        self.token_format = PRESETS[preset]['token'] if preset else DEFAULT_TOKEN
        self._token_re = re.compile(re.escape(self.token_format).replace(
            re.escape('{:04d}'), r'(\d{4})').replace(re.escape('{}'), r'(\d+)'))

    def encode(self, boxes: Tensor, img_shape: ImgShape) -> Tensor:
        """Bins ``[N, 4]`` (LongTensor, in ``order``) of ``boxes: [N, 4]`` xyxy pixels.

        Args:
            boxes (Tensor): ``[N, 4]`` as (x1, y1, x2, y2); N may be 0.
            img_shape (tuple | Tensor): ``(h, w)`` of the image, or ``[N, 2]``
                (h, w) per box.

        Coordinates outside the image are clipped to ``[0, w]`` / ``[0, h]``;
        zero-width or zero-height boxes are allowed.

        Raises:
            ValueError: ``boxes`` is not ``[N, 4]``; a box has a non-finite
                coordinate, or x2 < x1 or y2 < y1 after clipping (the message
                names the box's index and values).
        """
        boxes = torch.as_tensor(boxes)
        if boxes.dim() != 2 or boxes.shape[-1] != 4:
            raise ValueError(f'boxes must have shape [N, 4], got {tuple(boxes.shape)}')
        # float64: c * num_bins / size is exact on bin edges for integer pixels.
        xyxy = boxes.to(torch.float64)
        finite = torch.isfinite(xyxy).all(dim=1)
        if not finite.all():
            i = int((~finite).nonzero()[0])
            raise ValueError(f'box {i} has a non-finite coordinate: {boxes[i].tolist()}')
        size = self._sizes(img_shape, xyxy)
        xyxy = torch.minimum(xyxy.clamp(min=0), size)
        inverted = (xyxy[:, 2] < xyxy[:, 0]) | (xyxy[:, 3] < xyxy[:, 1])
        if inverted.any():
            i = int(inverted.nonzero()[0])
            raise ValueError(f'box {i} has x2 < x1 or y2 < y1: {boxes[i].tolist()} '
                             f'(clipped to the image: {xyxy[i].tolist()})')
        k = self.num_bins
        if self.mode == 'round':
            bins = torch.round(xyxy / size * (k - 1))
        elif self.mode == 'floor_bin_size':
            bins = torch.floor(xyxy / (size / k))
        else:
            bins = torch.floor(xyxy * k / size)
        return bins.long().clamp(0, k - 1)[:, list(ORDERS[self.order])]

    def decode(self, bins: Tensor, img_shape: ImgShape) -> Tensor:
        """Boxes ``[..., 4]`` (float32 xyxy pixels) of ``bins: [..., 4]``.

        Bin centres for 'floor' and 'floor_bin_size'; ``b / (K - 1) * size``
        for 'round'.

        Args:
            bins (Tensor): ``[..., 4]`` bin indices in ``order``.
            img_shape (tuple | Tensor): ``(h, w)``, or ``[..., 2]`` per box.

        Raises:
            ValueError: a bin is outside ``[0, num_bins)``.
        """
        bins = torch.as_tensor(bins)
        if bins.dim() == 0 or bins.shape[-1] != 4:
            raise ValueError(f'bins must have shape [..., 4], got {tuple(bins.shape)}')
        bad = (bins < 0) | (bins >= self.num_bins)
        if bad.any():
            raise ValueError(f'bins must lie in [0, {self.num_bins}), got {bins[bad].tolist()}')
        xyxy_bins = bins[..., list(ORDERS[self.order])].to(torch.float64)
        size = self._sizes(img_shape, xyxy_bins)
        k = self.num_bins
        if self.mode == 'round':
            out = xyxy_bins / (k - 1) * size
        elif self.mode == 'floor_bin_size':
            out = (xyxy_bins + 0.5) * (size / k)
        else:
            out = (xyxy_bins + 0.5) * size / k
        return out.to(torch.float32)

    @property
    def signature(self):
        """What of this tokenizer decides the bins beyond their number: the order, and the
        quantiser where it is not the default 'floor' (part of
        :attr:`LocCaTokenizer.signature`)."""
        return self.order if self.mode == 'floor' else (self.order, self.mode)

    # -- spelling ------------------------------------------------------------------------------

    def token(self, k: int) -> str:
        """Location token ``k`` as the preset spells it (``<loc0042>``, ``<loc_42>``)."""
        return self.token_format.format(int(k))

    def to_string(self, bins: Sequence[int]) -> str:
        """The tokens of ``bins`` (e.g. one box's 4 bins, in ``order``), joined."""
        return ''.join(self.token(b) for b in torch.as_tensor(bins).flatten().tolist())

    def token_pattern(self) -> str:
        """A regular expression matching one location token; its group is the bin."""
        return self._token_re.pattern

    def from_string(self, text: str) -> List[int]:
        """Bins of a string made only of location tokens (e.g. ``'<loc0001><loc0002>'``).

        Raises:
            ValueError: other characters in ``text`` (named with their position),
                or a bin outside ``[0, num_bins)``.
        """
        bins, pos = [], 0
        for m in self._token_re.finditer(text):
            if m.start() != pos:
                break
            bins.append(int(m.group(1)))
            pos = m.end()
        if pos != len(text):
            raise ValueError(f'{text[pos:pos + 20]!r} at character {pos} of {text!r} is not a '
                             f'location token like {self.token(0)!r}')
        bad = [b for b in bins if b >= self.num_bins]
        if bad:
            raise ValueError(f'location tokens {bad} are outside [0, {self.num_bins})')
        return bins

    @staticmethod
    def _sizes(img_shape: ImgShape, like: Tensor) -> Tensor:
        """``(w, h, w, h)`` of ``img_shape`` broadcast against ``like: [..., 4]``."""
        hw = torch.as_tensor(img_shape, dtype=like.dtype, device=like.device)
        if hw.dim() == 0 or hw.shape[-1] != 2:
            raise ValueError(f'img_shape must be (h, w) or [..., 2], got {tuple(hw.shape)}')
        if not (hw > 0).all():
            raise ValueError(f'img_shape must be positive, got {hw.tolist()}')
        wh = hw.flip(-1)
        try:
            return torch.cat([wh, wh], dim=-1).expand_as(like)
        except RuntimeError as e:
            raise ValueError(f'img_shape of shape {tuple(hw.shape)} does not match '
                             f'boxes of shape {tuple(like.shape)}') from e

    def __repr__(self) -> str:
        if self.preset:
            return f'{type(self).__name__}(preset={self.preset!r})'
        mode = '' if self.mode == 'floor' else f', mode={self.mode!r}'
        return f'{type(self).__name__}(num_bins={self.num_bins}, order={self.order!r}{mode})'
