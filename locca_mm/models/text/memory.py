"""VisualMemory: the cross-attention keys/values of an image's visual tokens."""
from typing import List, Optional, Tuple

from torch import Tensor


class VisualMemory:
    """Cross-attention keys/values of the visual tokens, one (k, v) per multimodal layer.

    Made once per image by :meth:`TextDecoder.project_memory` and shared by
    every text row of that image: the Cap, ARef and GCap rows of a training
    step, or the several referring expressions of one image at evaluation.

    Attributes:
        kv: per layer, (k, v) each [B, H, N, d].
    """

    def __init__(self, kv: List[Tuple[Tensor, Tensor]]):
        self.kv = kv

    @property
    def batch_size(self) -> int:
        """B, the number of images (rows) the memory holds; 0 without layers."""
        return self.kv[0][0].shape[0] if self.kv else 0

    def index_select(self, index: Optional[Tensor]) -> 'VisualMemory':
        """Memory of rows ``index`` ([R], image index of each text row); None keeps all."""
        if index is None:
            return self
        return VisualMemory([(k.index_select(0, index), v.index_select(0, index))
                             for k, v in self.kv])
