"""Text that must follow geometry: left and right swap when the image is mirrored."""
import re
from typing import List

from mmcv.transforms import BaseTransform

from locca_mm.registry import TRANSFORMS

_LEFT_RIGHT = re.compile(r'\b(left|right|leftmost|rightmost)\b', re.IGNORECASE)
_SWAP = {'left': 'right', 'right': 'left', 'leftmost': 'rightmost', 'rightmost': 'leftmost'}


def swap_left_right(text: str) -> str:
    """Swap the words left/right (and leftmost/rightmost), keeping their case."""

    def repl(m):
        word = m.group(0)
        new = _SWAP[word.lower()]
        if word.isupper():
            return new.upper()
        return new.capitalize() if word[0].isupper() else new

    return _LEFT_RIGHT.sub(repl, text)


@TRANSFORMS.register_module()
class SwapLeftRight(BaseTransform):
    """After a horizontal flip, swap "left" and "right" in every text of the sample.

    Place it after ``mmdet.RandomFlip`` (which sets ``flip`` and
    ``flip_direction``). Captions, region texts and the referring expression
    are rewritten, so "the left dog" still names the same dog.
    """

    def transform(self, results: dict) -> dict:
        if not results.get('flip') or results.get('flip_direction') != 'horizontal':
            return results
        if results.get('captions'):
            results['captions'] = [swap_left_right(c) for c in results['captions']]
        if results.get('regions') is not None:
            regions = dict(results['regions'])
            regions['texts'] = [swap_left_right(t) for t in regions['texts']]
            results['regions'] = regions
        if results.get('ref_text'):
            results['ref_text'] = swap_left_right(results['ref_text'])
        return results


__all__: List[str] = ['SwapLeftRight', 'swap_left_right']
