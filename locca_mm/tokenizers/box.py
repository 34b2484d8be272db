"""BoxTokenizer: boxes in pixels <-> one location bin per coordinate."""
from typing import Tuple, Union

import torch
from torch import Tensor

from locca_mm.registry import TOKENIZERS

ImgShape = Union[Tuple[int, int], Tensor]

# Positions of each order's coordinates in an (x1, y1, x2, y2) box; both
# permutations are their own inverse, so one table serves encode and decode.
ORDERS = {'yxyx': (1, 0, 3, 2), 'xyxy': (0, 1, 2, 3)}


@TOKENIZERS.register_module()
class BoxTokenizer:
    """Quantises box coordinates into ``num_bins`` bins per image side.

    A coordinate ``c`` on a side of length ``size`` falls in bin
    ``floor(c / size * num_bins)`` (the far edge ``c = size`` joins the last
    bin); a bin decodes to its centre ``(b + 0.5) * size / num_bins``, so a
    round trip moves a coordinate by at most half a bin. Coordinates are
    pixels of the image the model sees (``img_shape = (h, w)``).

    Args:
        num_bins (int): Bins per side, i.e. the number of location tokens.
        order (str): Order of the 4 bins: 'yxyx' (y1, x1, y2, x2), as the
            LocCa paper writes boxes, or 'xyxy'. Defaults to 'yxyx'.
    """

    def __init__(self, num_bins: int, order: str = 'yxyx'):
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
            raise ValueError(f'num_bins must be an int >= 1, got {num_bins!r}')
        if order not in ORDERS:
            raise ValueError(f'order must be one of {sorted(ORDERS)}, got {order!r}')
        self.num_bins = num_bins
        self.order = order

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
        bins = torch.floor(xyxy * self.num_bins / size).long().clamp(0, self.num_bins - 1)
        return bins[:, list(ORDERS[self.order])]

    def decode(self, bins: Tensor, img_shape: ImgShape) -> Tensor:
        """Boxes ``[..., 4]`` (float32 xyxy pixels, bin centres) of ``bins: [..., 4]``.

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
        return ((xyxy_bins + 0.5) * size / self.num_bins).to(torch.float32)

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
        return f'{type(self).__name__}(num_bins={self.num_bins}, order={self.order!r})'
