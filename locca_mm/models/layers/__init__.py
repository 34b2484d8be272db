"""Building blocks shared by the encoder, decoder and heads."""
from .attention import (
                        FLAX_GELU,
                        Attention,
                        AttentionPool,
                        CrossAttention,
                        KVCache,
                        Mlp,
                        StaticKVCache,
                        attend,
                        build_act,
                        merge_heads,
                        split_heads,
)
from .multi_crop import MultiCropViews, Views
from .pos_embed import extend_table, grid_size_of, resize_pos_embed, sincos_1d, sincos_2d

__all__ = [
    'Attention', 'AttentionPool', 'CrossAttention', 'FLAX_GELU', 'KVCache', 'StaticKVCache',
    'Mlp', 'attend',
    'build_act', 'merge_heads', 'split_heads', 'grid_size_of', 'resize_pos_embed',
    'sincos_1d', 'sincos_2d', 'extend_table', 'MultiCropViews', 'Views'
]
