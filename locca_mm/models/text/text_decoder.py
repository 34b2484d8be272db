"""TextDecoder: the one decoder LocCa trains for Cap, ARef and GCap (and CoCa's captioner)."""
from typing import List, NamedTuple, Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from locca_mm.registry import MODELS

from ..layers import FLAX_GELU, KVCache, StaticKVCache, grid_size_of, sincos_2d
from .blocks import DecoderBlock, TextTransformer
from .memory import VisualMemory


class CaptionAndEmbedding(NamedTuple):
    """Output of :meth:`TextDecoder.forward_with_text_embedding` (CoCa's one pass).

    Attributes:
        logits: as :meth:`TextDecoder.forward` returns them.
        text_embedding: [B, D] the normalised text-CLS output of the unimodal layers.
    """
    logits: Tensor
    text_embedding: Tensor


@MODELS.register_module()
class TextDecoder(TextTransformer):
    """Transformer decoder over text tokens, cross-attending to visual tokens.

    The decoder shifts its inputs itself: callers pass the target tokens
    ``tokens: [B, T]`` (right-padded with ``pad_id``) and get logits ``[B, T, V]``
    where position t predicts ``tokens[:, t]``. Each row is decoded either
    causally (inputs ``[bos, tokens[:-1]]``) or in parallel-prediction mode
    (CapPa: every input is ``mask_id`` and attention is bidirectional over every
    position of the row, padding included, as big_vision's CapPa), chosen per
    row by ``parallel: [B]``. A parallel row must be padded to a length that
    does not depend on its text (its task's ``max_length``, as
    :class:`LocCaHead` does): the positions it attends to then say nothing of
    where the text ends.

    CoCa's decoupled decoder is the same class on top of a text tower: with
    ``num_unimodal_layers > 0`` the first layers have no cross-attention (they
    never see the image), and with ``with_text_cls=True`` they compute what a
    :class:`TextEncoder` of that depth computes, giving the text embedding of
    the contrastive loss (:meth:`text_embedding`,
    :meth:`forward_with_text_embedding`). A text-only tower (CLIP) is a
    :class:`TextEncoder`.

    Token ids come from the tokenizer: the head passes ``vocab_size``,
    ``pad_id``, ``bos_id``, ``mask_id``, ``loc_offset`` and ``num_bins``.

    Args:
        vocab_size (int): Size V of the vocabulary (location tokens included).
        pad_id, bos_id, mask_id (int): Special token ids.
        embed_dims (int): Width D. Defaults to 768.
        num_layers (int): Number of blocks (unimodal + multimodal). Defaults to 6,
            half of a 12-layer encoder (the CapPa recipe).
        num_heads (int): Attention heads. Defaults to 12.
        mlp_ratio (float): MLP width / D. Defaults to 4.
        memory_dims (int, optional): Width of the visual tokens. Defaults to D.
        max_len (int): Longest sequence (learned position table). Defaults to 64.
        num_unimodal_layers (int): Leading blocks without cross-attention
            (at least one block must cross-attend).
        with_text_cls (bool): Append a text-CLS token (CoCa's text embedding).
        bias (bool): Biases in linear layers and LayerNorms. Defaults to False.
        dropout (float): Dropout in blocks. Defaults to 0.
        fused_attn (bool): ``F.scaled_dot_product_attention`` (else plain math).
        loc_offset (int, optional), num_bins (int): where the location tokens
            sit in the vocabulary (given by the head from the tokenizer).
        loc_embed_init (str, optional): ``'sincos'`` starts the location
            tokens' input embeddings from the 1-D sin-cos code of their bin,
            so neighbouring bins begin close together rather than as unrelated
            random vectors; None (default) initialises them like every token.
        memory_pos_embed (bool): add a 2-D sin-cos code of each visual token's
            grid position to the cross-attention keys of every layer (as DETR
            does), so positions stay explicit whatever the encoder kept of
            them. Defaults to False (the paper's decoder).
        head_bias (bool): Biases of the output LayerNorm and the logit layer.
            Defaults to True: big_vision's CapPa decoder has them even with
            ``decoder_bias=False`` (its blocks have none: ``bias=False``).
        act_cfg (dict, optional): The MLPs' activation (mmcv config). Defaults
            to big_vision's (flax ``nn.gelu``), the tanh-approximated GELU
            ``dict(type='GELU', approximate='tanh')``; ``dict(type='GELU')`` is
            the exact one. See :mod:`locca_mm.models.text.converters` for
            big_vision's CapPa decoder in these terms.
        token_embed_std (float): Init std of the token embeddings. Defaults to
            1.0, big_vision's ``EmbedTargets`` (``normal(stddev=1.0)``): the
            text enters the residual stream at the scale of a LayerNorm output,
            not 1/sqrt(D) below the cross-attention outputs added to it.
    """

    def __init__(self,
                 vocab_size: int,
                 pad_id: int,
                 bos_id: int,
                 mask_id: int,
                 embed_dims: int = 768,
                 num_layers: int = 6,
                 num_heads: int = 12,
                 mlp_ratio: float = 4.0,
                 memory_dims: Optional[int] = None,
                 max_len: int = 64,
                 num_unimodal_layers: int = 0,
                 with_text_cls: bool = False,
                 bias: bool = False,
                 dropout: float = 0.0,
                 fused_attn: bool = True,
                 loc_offset: Optional[int] = None,
                 num_bins: int = 0,
                 loc_embed_init: Optional[str] = None,
                 memory_pos_embed: bool = False,
                 init_cfg: Optional[dict] = None,
                 head_bias: bool = True,
                 act_cfg: Optional[dict] = FLAX_GELU,
                 token_embed_std: float = 1.0):
        if not 0 <= num_unimodal_layers < num_layers:
            raise ValueError(f'num_unimodal_layers={num_unimodal_layers} must be within '
                             f'[0, num_layers={num_layers}): at least one block cross-attends '
                             '(a text-only tower is a TextEncoder)')
        cross = [i >= num_unimodal_layers for i in range(num_layers)]
        super().__init__(vocab_size, pad_id, bos_id, embed_dims, num_heads, mlp_ratio, cross,
                         memory_dims, max_len, bias, dropout, fused_attn, loc_offset, num_bins,
                         loc_embed_init, init_cfg=init_cfg, act_cfg=act_cfg,
                         token_embed_std=token_embed_std)
        self.mask_id = mask_id
        self.num_unimodal_layers = num_unimodal_layers
        self.memory_pos_embed = memory_pos_embed
        if with_text_cls:
            self._add_text_cls(bias)
        self.norm = nn.LayerNorm(embed_dims, eps=1e-6, bias=head_bias)
        self.logit_layer = nn.Linear(embed_dims, vocab_size, bias=head_bias)
        self._init_params()

    def _init_params(self) -> None:
        """The trunk's initialisation, then a zero logit layer: every token starts equally
        likely (big_vision)."""
        super()._init_params()
        nn.init.zeros_(self.logit_layer.weight)
        if self.logit_layer.bias is not None:
            nn.init.zeros_(self.logit_layer.bias)

    @property
    def has_text_embedding(self) -> bool:
        """Whether the decoder gives a text embedding (a text-CLS token: CoCa)."""
        return self.text_cls is not None

    @property
    def multimodal_blocks(self) -> Sequence[DecoderBlock]:
        """The blocks that cross-attend to the image."""
        return self.blocks[self.num_unimodal_layers:]

    def project_memory(self, visual: Tensor) -> VisualMemory:
        """visual: [B, N, Dm] -> per-layer cross-attention k/v, computed once per image."""
        key_pos = None
        if self.memory_pos_embed:
            h, w = grid_size_of(visual.shape[1])
            key_pos = sincos_2d(h, w, visual.shape[-1]).to(visual.device)
        return VisualMemory([blk.cross_attn.project_memory(visual, key_pos)
                             for blk in self.multimodal_blocks])

    # ------------------------------------------------------------------ training
    def forward(self, tokens: Tensor, memory: VisualMemory, parallel=None,
                logits_at: Optional[Tensor] = None,
                input_embeds: Optional[Tensor] = None) -> Tensor:
        """Teacher-forced logits.

        Args:
            tokens: [B, T] target tokens, right-padded with ``pad_id``.
            memory: visual memory with B rows (see :meth:`project_memory` and
                :meth:`VisualMemory.index_select`).
            parallel: bool [B], rows in parallel-prediction mode, each row then
                attending as its flag says (one per-row mask); ``True``: every
                row is parallel (full attention, no mask); None: every row is
                causal. No flag is read back to the host, so the call traces
                into one graph (``torch.compile``).
            logits_at: bool [B, T]: compute the logits of these positions only
                (the positions a loss is taken on). The vocabulary projection
                is a large part of the decoder's cost; prompt and padding
                positions then skip it.
            input_embeds: [B, T, D], the token embeddings of
                ``shifted_inputs(tokens, parallel)`` if already looked up
                (:meth:`embed_inputs`); positions are added here.

        Returns:
            logits [B, T, V] (``[M, V]`` for the M positions of ``logits_at``, row by row).
        """
        self._check_length(tokens)
        if input_embeds is None:
            x = self._embed(self.shifted_inputs(tokens, parallel))
        else:
            x = input_embeds + self.pos_embed[:, :tokens.shape[1]]
        attn_mask, is_causal = self._self_attention(tokens, parallel)
        x = self._run_blocks(x, memory, 0, attn_mask, is_causal)
        return self._logits(x, logits_at)

    def forward_with_text_embedding(self, tokens: Tensor, memory: VisualMemory,
                                    logits_at: Optional[Tensor] = None) -> CaptionAndEmbedding:
        """Causal logits and the text embedding in one pass (CoCa's training step).

        The unimodal layers run once over ``[bos, tokens]`` and the CLS token
        (:meth:`text_embedding`); the multimodal layers continue from their
        outputs at ``[bos, tokens[:-1]]``, so the logits equal :meth:`forward`'s.
        """
        hidden, embedding = self._encode_with_cls(tokens, self.num_unimodal_layers)
        x = self._run_blocks(hidden[:, :tokens.shape[1]], memory, self.num_unimodal_layers,
                             None, True)
        return CaptionAndEmbedding(self._logits(x, logits_at), embedding)

    def text_embedding(self, tokens: Tensor) -> Tensor:
        """tokens: [B, T] -> [B, D], the normalised text-CLS output of the unimodal layers."""
        return self._encode_with_cls(tokens, self.num_unimodal_layers)[1]

    def embed_inputs(self, inputs: List[Tensor]) -> List[Tensor]:
        """Token embeddings (no positions) of several [R_i, T_i] input tensors, looked up
        in one call, so that the table's gradient is one buffer, not one per tensor."""
        if len(inputs) < 2:
            return [self.token_embed(i) for i in inputs]
        flat = self.token_embed(torch.cat([i.reshape(-1) for i in inputs]))
        parts = flat.split([i.numel() for i in inputs])
        return [p.view(*i.shape, -1) for p, i in zip(parts, inputs)]

    def shifted_inputs(self, tokens: Tensor, parallel) -> Tensor:
        """``[bos, tokens[:-1]]`` per row; every input of a parallel row is ``mask_id``
        (``parallel``: bool [B], ``True`` for every row, or None)."""
        if parallel is True:
            return torch.full_like(tokens, self.mask_id)
        bos = tokens.new_full((tokens.shape[0], 1), self.bos_id)
        inputs = torch.cat([bos, tokens[:, :-1]], dim=1)
        if parallel is not None:
            inputs = torch.where(parallel[:, None], torch.full_like(inputs, self.mask_id), inputs)
        return inputs

    def _self_attention(self, tokens: Tensor, parallel):
        """(attn_mask, is_causal) of the rows: no mask when every row is causal (None) or
        parallel (``True``), SDPA's fast kernels; a per-row mask for bool flags [B]."""
        if parallel is None:
            return None, True
        if parallel is True:
            return None, False  # every row parallel: full attention, no mask
        return self.attention_mask(tokens != self.pad_id, parallel), False

    def _run_blocks(self, x: Tensor, memory: VisualMemory, start: int,
                    attn_mask: Optional[Tensor], is_causal: bool,
                    cache: Optional[List[KVCache]] = None, max_len: int = 0) -> Tensor:
        """Blocks ``start`` onwards; multimodal ones read their layer of ``memory``."""
        for i in range(start, len(self.blocks)):
            blk = self.blocks[i]
            mem = memory.kv[i - self.num_unimodal_layers] if blk.cross_attn is not None else None
            x = blk(x, attn_mask=attn_mask, is_causal=is_causal, memory_kv=mem,
                    cache=None if cache is None else cache[i], max_len=max_len)
        return x

    def _logits(self, x: Tensor, logits_at: Optional[Tensor]) -> Tensor:
        """Output norm and vocabulary projection, at the ``logits_at`` positions only if given."""
        if logits_at is not None:
            x = x[logits_at]
        return self.logit_layer(self.norm(x))

    # ------------------------------------------------------------------ decoding
    def new_cache(self) -> List[KVCache]:
        """Empty self-attention caches, one per block."""
        return [KVCache() for _ in self.blocks]

    def new_static_cache(self, capacity: int, write_at: Tensor) -> List[StaticKVCache]:
        """Static self-attention caches of ``capacity`` positions, one per block, all
        written at ``write_at`` (0-d long tensor, advanced by the caller)."""
        return [StaticKVCache(capacity, write_at) for _ in self.blocks]

    def step(self, inputs: Tensor, positions: Tensor, memory: VisualMemory,
             cache: List[KVCache], key_valid: Tensor, max_len: int) -> Tensor:
        """Incremental decoding: logits of new input tokens given the cached past.

        Args:
            inputs: [B, t] new input tokens (the prompt at the first call, then
                the token chosen at the previous step).
            positions: [B, t] their position ids (left-padded prompts start later).
            memory: visual memory with B rows.
            cache: from :meth:`new_cache`; extended in place. A static cache
                (:meth:`new_static_cache`) holds every position at fixed
                addresses: the step then has one shape whatever the position
                (``torch.compile``, CUDA graphs).
            key_valid: bool [B, L] for every cached + new position (False on
                left padding), L = cache length + t; with a static cache, L is
                its capacity.
            max_len: capacity to allocate in the caches at the first call.

        Returns:
            logits [B, t, V].
        """
        x = self.token_embed(inputs) + self.pos_embed[0, positions]
        q_pos, k_pos = cache[0].positions(inputs.shape[1], inputs.device)
        allowed = (k_pos[None, :] <= q_pos[:, None])[None] & key_valid[:, None, :]
        x = self._run_blocks(x, memory, 0, allowed[:, None], False, cache, max_len)
        return self._logits(x, None)
