"""Attention layers shared by the encoder, the decoder and the poolers.

All of them run through ``F.scaled_dot_product_attention`` (flash / memory
efficient kernels where the device has them); ``fused=False`` switches to the
plain formula, which is handy for debugging and for exporting.

Shapes: ``B`` batch, ``N``/``T`` query length, ``M`` memory length, ``D``
width, ``H`` heads, ``d = D / H``.
"""
from types import MappingProxyType
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def attend(q: Tensor, k: Tensor, v: Tensor, attn_mask: Optional[Tensor] = None,
           is_causal: bool = False, dropout_p: float = 0.0, fused: bool = True) -> Tensor:
    """Scaled dot-product attention.

    Args:
        q: [B, H, N, d]; k, v: [B, H, M, d].
        attn_mask: bool [B or 1, 1 or H, N, M] (True = may attend) or None.
        is_causal: causal mask (only with ``attn_mask=None``).

    Returns:
        [B, H, N, d]

    One query row in bfloat16 on a CPU (each step of KV-cached decoding) takes
    the plain formula even when ``fused``: torch's CPU flash kernel is about 4x
    slower there than two small matrix products (float32 and longer queries:
    no difference, or the kernel wins).
    """
    if fused and q.shape[-2] == 1 and q.dtype == torch.bfloat16 and q.device.type == 'cpu' \
            and dropout_p == 0.0:
        fused = False
    if fused:
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal)
    scores = (q * q.shape[-1]**-0.5) @ k.transpose(-2, -1)
    if is_causal:
        n, m = scores.shape[-2:]
        attn_mask = torch.ones(n, m, dtype=torch.bool, device=q.device).tril(m - n)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float('-inf'))
    weights = scores.softmax(dim=-1)
    if dropout_p > 0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """[B, N, D] -> [B, H, N, d]."""
    b, n, d = x.shape
    return x.view(b, n, num_heads, d // num_heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """[B, H, N, d] -> [B, N, D]."""
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


class KVCache:
    """Self-attention keys/values of one layer for incremental decoding.

    Buffers are allocated once for ``max_len`` positions ([B, H, max_len, d])
    and filled in place, so a decoding step appends without copying the past.
    """

    def __init__(self):
        self.k: Optional[Tensor] = None
        self.v: Optional[Tensor] = None
        self.length = 0
        self.max_len = 0

    def allocate(self, like: Tensor, max_len: int) -> None:
        """Empty buffers [B, H, max_len, d] shaped and typed like ``like`` ([B, H, t, d])."""
        b, h, _, d = like.shape
        self.k = like.new_empty(b, h, max_len, d)
        self.v = like.new_empty(b, h, max_len, d)
        self.max_len = max_len
        self.length = 0

    def append(self, k: Tensor, v: Tensor, max_len: int) -> Tuple[Tensor, Tensor]:
        """Store k, v ([B, H, t, d]) after the cached positions; return all of them."""
        if self.k is None:
            self.allocate(k, max_len)
        end = self.length + k.shape[2]
        if end > self.max_len:
            raise RuntimeError(f'KV cache full: {end} positions > max_len {self.max_len}')
        self.k[:, :, self.length:end] = k
        self.v[:, :, self.length:end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]

    def reorder(self, index: Tensor) -> None:
        """Keep rows ``index`` ([B']) of the batch (beam search)."""
        if self.k is not None:
            self.k = self.k.index_select(0, index)
            self.v = self.v.index_select(0, index)

    def positions(self, t: int, device) -> Tuple[Tensor, Tensor]:
        """Positions of ``t`` new queries and of the keys they see: (cached .. cached + t,
        0 .. cached + t)."""
        return (torch.arange(self.length, self.length + t, device=device),
                torch.arange(self.length + t, device=device))


class StaticKVCache:
    """Self-attention keys/values of one layer in buffers of one fixed shape.

    The static counterpart of :class:`KVCache` (what ``torch.compile`` and CUDA
    graphs need): the buffers [B, H, capacity, d] are zero-filled once and
    never change address; new keys/values are written at the tensor index
    ``write_at`` (a 0-d long tensor the caller advances in place, shared by
    every layer), and the queries attend to the whole buffer, the positions not
    written yet masked out. No step reads a position back to the host.

    Args:
        capacity (int): positions to hold (prompt + new tokens).
        write_at (Tensor): 0-d long, where the next keys/values go.
    """

    def __init__(self, capacity: int, write_at: Tensor):
        self.k: Optional[Tensor] = None
        self.v: Optional[Tensor] = None
        self.capacity, self.write_at = capacity, write_at

    def allocate(self, like: Tensor) -> None:
        """Zero buffers [B, H, capacity, d] typed like ``like`` ([B, H, t, d]); marked static
        for CUDA graphs (their address is part of a captured graph)."""
        b, h, _, d = like.shape
        self.k = like.new_zeros(b, h, self.capacity, d)
        self.v = like.new_zeros(b, h, self.capacity, d)
        for buf in (self.k, self.v):
            torch._dynamo.mark_static_address(buf)

    def append(self, k: Tensor, v: Tensor, max_len: int = 0) -> Tuple[Tensor, Tensor]:
        """Write k, v ([B, H, t, d]) at ``write_at .. write_at + t``; return the whole buffers
        (``max_len`` is the capacity given at construction)."""
        if self.k is None:
            self.allocate(k)
        index = self.write_at + torch.arange(k.shape[2], device=k.device)
        self.k.index_copy_(2, index, k.to(self.k.dtype))
        self.v.index_copy_(2, index, v.to(self.v.dtype))
        return self.k, self.v

    def reorder(self, index: Tensor) -> None:
        """Keep rows ``index`` ([B]) of the batch, in place (the buffers keep their address)."""
        if self.k is not None:
            self.k.copy_(self.k.index_select(0, index))
            self.v.copy_(self.v.index_select(0, index))

    def positions(self, t: int, device) -> Tuple[Tensor, Tensor]:
        """Positions of ``t`` new queries and of the keys they see: (write_at .. write_at + t,
        0 .. capacity)."""
        return (self.write_at + torch.arange(t, device=device),
                torch.arange(self.capacity, device=device))


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection.

    Args:
        dim (int): Width D.
        num_heads (int): Heads H.
        qkv_bias (bool): Bias of the qkv projection.
        proj_bias (bool): Bias of the output projection.
        attn_drop (float): Dropout on attention weights (training only).
        proj_drop (float): Dropout after the output projection.
        fused (bool): Use ``F.scaled_dot_product_attention``.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, proj_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0, fused: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'width {dim} is not divisible by {num_heads} heads')
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.attn_drop = attn_drop
        self.proj_drop = nn.Dropout(proj_drop)
        self.fused = fused

    def forward(self, x: Tensor, attn_mask: Optional[Tensor] = None, is_causal: bool = False,
                cache: Optional[KVCache] = None, max_len: int = 0) -> Tensor:
        """x: [B, N, D] -> [B, N, D].

        With ``cache``, k/v of ``x`` are appended to it and the queries attend
        to every cached position (``attn_mask`` then covers [N, cached + N]).
        """
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (split_heads(t, self.num_heads) for t in (q, k, v))
        if cache is not None:
            k, v = cache.append(k, v, max_len)
        out = attend(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                     dropout_p=self.attn_drop if self.training else 0.0, fused=self.fused)
        return self.proj_drop(self.proj(merge_heads(out)))


class CrossAttention(nn.Module):
    """Multi-head attention from queries to a memory whose k/v are projected once.

    :meth:`project_memory` turns the memory ([B, M, Dm]) into per-head keys and
    values once; :meth:`forward` reuses them for any number of query rows, so
    several task rows of one image share one projection of its visual tokens.

    Args:
        dim (int): Query width D.
        memory_dims (int): Memory width Dm.
        num_heads (int): Heads H.
        bias (bool): Biases of the projections.
        attn_drop (float): Dropout on attention weights (training only).
        fused (bool): Use ``F.scaled_dot_product_attention``.
    """

    def __init__(self, dim: int, memory_dims: int, num_heads: int, bias: bool = False,
                 attn_drop: float = 0.0, fused: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'width {dim} is not divisible by {num_heads} heads')
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=bias)
        self.kv = nn.Linear(memory_dims, dim * 2, bias=bias)
        self.proj = nn.Linear(dim, dim, bias=bias)
        self.attn_drop = attn_drop
        self.fused = fused

    def project_memory(self, memory: Tensor, key_pos: Optional[Tensor] = None
                       ) -> Tuple[Tensor, Tensor]:
        """memory: [B, M, Dm] -> (k, v), each [B, H, M, d].

        ``key_pos`` ([1 or B, M, Dm]) is added to the memory on the key side
        only, as DETR adds spatial positions to its cross-attention keys.
        """
        k, v = self.kv(memory).chunk(2, dim=-1)
        if key_pos is not None:
            k = k + F.linear(key_pos.to(k.dtype), self.kv.weight[:k.shape[-1]])
        return split_heads(k, self.num_heads), split_heads(v, self.num_heads)

    def forward(self, x: Tensor, memory_kv: Tuple[Tensor, Tensor],
                memory_mask: Optional[Tensor] = None) -> Tensor:
        """x: [B, N, D], memory_kv from :meth:`project_memory` -> [B, N, D]."""
        q = split_heads(self.q(x), self.num_heads)
        k, v = memory_kv
        out = attend(q, k, v, attn_mask=memory_mask,
                     dropout_p=self.attn_drop if self.training else 0.0, fused=self.fused)
        return self.proj(merge_heads(out))


#: flax's ``nn.gelu`` (big_vision's activation): the tanh-approximated GELU, read-only
#: (``dict(FLAX_GELU)`` for a config of one's own).
FLAX_GELU = MappingProxyType(dict(type='GELU', approximate='tanh'))


def build_act(act_cfg: Optional[dict] = None) -> nn.Module:
    """The activation of an :class:`Mlp`: the exact GELU for None, else mmcv's
    ``build_activation_layer(act_cfg)``, e.g. ``dict(type='GELU', approximate='tanh')``,
    the tanh approximation that flax's ``nn.gelu`` (big_vision) computes."""
    if act_cfg is None:
        return nn.GELU()
    from mmcv.cnn import build_activation_layer
    return build_activation_layer(dict(act_cfg))


class Mlp(nn.Module):
    """Two-layer MLP: Linear -> GELU -> Linear, [B, N, D] -> [B, N, D].

    ``act_cfg`` (None: the exact GELU) picks the activation, see :func:`build_act`.
    """

    def __init__(self, dim: int, hidden_dim: int, bias: bool = True, drop: float = 0.0,
                 act_cfg: Optional[dict] = None):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim, bias=bias)
        self.act = build_act(act_cfg)
        self.fc2 = nn.Linear(hidden_dim, dim, bias=bias)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        """[B, N, D] -> [B, N, D]."""
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class AttentionPool(nn.Module):
    """Multi-head attention pooling (MAP): learned queries attend to the tokens.

    As the attentional pooler of CoCa and the MAP head of big_vision: ``Q``
    learned queries attend to [B, N, D] tokens, followed by a residual MLP.

    Args:
        dim (int): Width of the tokens and of the output.
        num_heads (int): Heads.
        num_queries (int): Number of pooled outputs Q.
        mlp_ratio (float): Hidden width of the MLP relative to ``dim``.
        act_cfg (dict, optional): The MLP's activation (:func:`build_act`; None: the
            exact GELU). SigLIP's MAP head (big_vision, Hugging Face) uses the tanh GELU.

    Returns (forward): [B, Q, D].
    """

    def __init__(self, dim: int, num_heads: int, num_queries: int = 1, mlp_ratio: float = 4.0,
                 fused: bool = True, act_cfg: Optional[dict] = None):
        super().__init__()
        self.query = nn.Parameter(torch.zeros(1, num_queries, dim))
        nn.init.trunc_normal_(self.query, std=dim**-0.5)
        self.attn = CrossAttention(dim, dim, num_heads, bias=True, fused=fused)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_cfg=act_cfg)

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens: [B, N, D] -> [B, Q, D]."""
        q = self.query.expand(tokens.shape[0], -1, -1)
        x = self.attn(q, self.attn.project_memory(tokens))
        return x + self.mlp(self.norm(x))
