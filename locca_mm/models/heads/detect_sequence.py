"""Detection by the decoder: every object of an image in one GCap sequence."""
from typing import List, Optional

from ..text import VisualMemory


def detect_sequence(head, memory: VisualMemory, data_samples: List,
                    max_new_tokens: Optional[int] = None) -> List:
    """Decode up to ``max_boxes`` box + text pairs per image in one GCap sequence."""
    raise NotImplementedError('detect_seq decoding is being written')
