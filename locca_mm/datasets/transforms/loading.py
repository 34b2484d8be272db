"""Loading images and regions, with errors that name the record."""
import io
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from PIL import Image, ImageOps

from locca_mm.registry import TRANSFORMS

from ..base import invalid
from ..vlm_formats import regions_in_pixels

# Pillow refuses images above twice its default limit; we refuse above the limit
# itself, before decoding, so a decompression bomb never reaches memory.
DEFAULT_MAX_PIXELS = 89_478_485


@TRANSFORMS.register_module()
class LoadImage(BaseTransform):
    """Decode the sample's image into ``img`` (BGR uint8, mmcv's convention).

    Reads ``img_bytes`` (tar shards), else ``img_path`` through mmengine's file
    backends; an ``img`` already present (generated data) is kept. The image
    size is read from the header first: an image of more than ``max_pixels``
    pixels is refused before it is decoded. EXIF orientation is applied, as
    OpenCV does for mmdet.

    Required keys: ``img_path`` or ``img_bytes`` or ``img``; ``source`` (optional).
    Added keys: ``img``, ``img_shape``, ``ori_shape``.

    Raises:
        InvalidRecordError: missing or unreadable file, corrupt or truncated
            image, or too many pixels — the message names the file and record.
    """

    def __init__(self, max_pixels: int = DEFAULT_MAX_PIXELS,
                 backend_args: Optional[dict] = None):
        self.max_pixels = max_pixels
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        if results.get('img') is None:
            source = results.get('source') or results.get('img_path', '?')
            if results.get('img_bytes') is not None:
                buf, name = results.pop('img_bytes'), results.get('img_path', 'image bytes')
            else:
                name = results.get('img_path')
                if not name:
                    raise invalid(source, 'the record names no image')
                try:
                    buf = fileio.get(name, backend_args=self.backend_args)
                except (FileNotFoundError, OSError) as e:
                    raise invalid(source, f'cannot read image {name}: {e}') from None
            results['img'] = self.decode(buf, name, source)
        h, w = results['img'].shape[:2]
        results['img_shape'] = (h, w)
        results['ori_shape'] = (h, w)
        return results

    def decode(self, buf: bytes, name: str, source: str) -> np.ndarray:
        """Encoded bytes -> [H, W, 3] BGR uint8, checking size and integrity."""
        errors = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
        try:
            image = Image.open(io.BytesIO(buf))
            w, h = image.size
        except Image.DecompressionBombError as e:
            raise invalid(source, f'image {name} refused before decoding: {e}') from None
        except errors as e:
            raise invalid(source, f'cannot decode image {name}: {e}') from None
        if w * h > self.max_pixels:
            raise invalid(source, f'image {name} has {w}x{h} = {w * h} pixels, more than '
                          f'max_pixels={self.max_pixels}: refused before decoding')
        try:
            image.load()  # raises on truncated or corrupt data
            image = ImageOps.exif_transpose(image).convert('RGB')
        except errors as e:
            raise invalid(source, f'cannot decode image {name}: {e}') from None
        return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])

    def __repr__(self) -> str:
        return f'{type(self).__name__}(max_pixels={self.max_pixels})'


@TRANSFORMS.register_module()
class LoadRegions(BaseTransform):
    """Put the sample's regions into the detection fields so geometric transforms move them.

    ``gt_bboxes`` and ``gt_bboxes_labels``: the label of a box is its index in
    ``regions['texts']``, so when a transform drops or reorders boxes (crops),
    the texts and scores still follow. Boxes are checked against the decoded
    image: a box entirely outside it is an invalid record; one reaching beyond
    its border is clipped later by the geometric transforms.

    Args:
        box_type: ``'hbox'`` (default, as mmdet's ``LoadAnnotations``): boxes as
            mmdet's ``HorizontalBoxes``, what mmdet's transforms (``mmdet.Resize``,
            ``mmdet.RandomFlip``, ``mmdet.RandomCrop``, ...) expect; mmdet's box
            structures need mmcv's compiled ops. ``None``: a float32 ``[N, 4]``
            array, what mmcv's own ``Resize`` and ``RandomFlip`` move; the shipped
            pretraining, REC and captioning pipelines use this, so they run with
            a pure-Python mmcv.

    Regions read from PaliGemma or Florence-2 records hold location bins
    (``regions['bins']``, :mod:`locca_mm.datasets.vlm_formats`): they become pixels of
    the decoded image here, by the format's own decode.

    Required keys: ``img_shape``, ``regions``. Added: ``gt_bboxes``,
    ``gt_bboxes_labels``, ``gt_ignore_flags``.
    """

    def __init__(self, box_type: Optional[str] = 'hbox'):
        if box_type not in ('hbox', None):
            raise ValueError(f"LoadRegions box_type must be 'hbox' or None, not {box_type!r}")
        self.box_type = box_type

    def transform(self, results: dict) -> dict:
        h, w = results['img_shape'][:2]
        regions = results['regions'] = regions_in_pixels(results['regions'], (h, w))
        boxes = np.asarray(regions['bboxes'], dtype=np.float32).reshape(-1, 4)
        outside = (boxes[:, 0] >= w) | (boxes[:, 1] >= h) | (boxes[:, 2] <= 0) | \
            (boxes[:, 3] <= 0)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise invalid(results.get('source', '?'),
                          f'region {i} box {boxes[i].tolist()} lies outside the {w}x{h} image')
        n = len(boxes)
        if self.box_type == 'hbox':
            from mmdet.structures.bbox import HorizontalBoxes  # imports mmcv.ops
            boxes = HorizontalBoxes(boxes)
        results['gt_bboxes'] = boxes
        results['gt_bboxes_labels'] = np.arange(n, dtype=np.int64)
        results['gt_ignore_flags'] = np.zeros(n, dtype=bool)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(box_type={self.box_type!r})'
