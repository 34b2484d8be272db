"""big_vision CapPa decoder parameters (``models/proj/cappa/cappa.py``) -> ``TextDecoder``.

flax, ``/``-joined names (``dict(np.load('cappa.npz'))``), under an optional
``params/`` root; ``D`` the decoder width, ``Dm`` the encoder's, ``H`` heads,
``V`` the output vocabulary, ``L`` ``seq_len``::

    pos_embedding_decoder [1, L, D]                pos_embed [1, L + 1, D] (zero row appended)
    decoder/EmbedTargets/embedding [V (+1), D]     token_embed.weight
    decoder/EncDecBlock{i}/LayerNorm1/{scale, bias}          blocks.i.norm1.{weight, bias}
    .../SelfAttn/{query,key,value}/kernel [D, H, Dh]         blocks.i.self_attn.qkv.weight [3D, D]
    .../SelfAttn/out/kernel [H, Dh, D]                       blocks.i.self_attn.proj.weight
    .../LayerNorm2                                           blocks.i.norm2
    .../CrossAttn/query/kernel [D, H, Dh]                    blocks.i.cross_attn.q.weight
    .../CrossAttn/{key,value}/kernel [Dm, H, Dh]             blocks.i.cross_attn.kv.weight [2D, Dm]
    .../CrossAttn/out/kernel [H, Dh, D]                      blocks.i.cross_attn.proj.weight
    .../LayerNorm3                                           blocks.i.norm3
    .../MLP/Dense_{0,1}/{kernel [in, out], bias}             blocks.i.mlp.fc{1,2}.{weight, bias}
    decoder/LayerNorm/{scale, bias}                          norm.{weight, bias}
    decoder/LogitsDense/{kernel [D, V], bias [V]}            logit_layer.{weight, bias} [V (+1)]
    encoder/..., anything outside decoder/                   ignored (noted)

A scanned decoder (``decoder/EncDecBlock/...``, layers stacked on axis 1) is
unstacked. The two decoders then compute the same function
(``tests/test_golden/test_cappa.py`` checks both modes within 1e-5 against
big_vision's own logits), given the :class:`ConvertedDecoder` arguments:

- GELU: flax's ``nn.gelu`` is the tanh approximation (``act_cfg=FLAX_GELU``).
- Biases: big_vision's attention has none (``use_bias=False``); its
  LayerNorms 1-3 and MLP have them iff ``decoder_bias`` (CapPa's pretraining:
  False), its final LayerNorm and ``LogitsDense`` always. So ``bias`` follows
  the checkpoint and ``head_bias=True``; with ``bias=True`` the attention
  biases TextDecoder adds are zero (and trainable here).
- Inputs: big_vision's ``shift_right`` pads with 0 (``bos_id=0``; its
  tokenizers pad with 0 too: ``pad_id=0``). Parallel prediction
  (``masked_pred_prob > 0``) adds a mask token, id V, to the embedding table
  only; TextDecoder's table and logit layer share one ``vocab_size``, so
  ``vocab_size=V + 1``, ``mask_id=V`` and the logit layer gets a row that
  big_vision has not: zero weights and bias :data:`MASK_LOGIT_BIAS` (-1e4),
  so its probability underflows to 0 and softmax, argmax and the plain
  cross-entropy equal big_vision's over V (label smoothing would spread mass
  over V + 1 classes). TextDecoder's parallel rows are big_vision's
  ``masking_ratio=1.0`` (every input masked, bidirectional attention, as
  CapPa); a ratio below 1 (some unshifted inputs kept) has no counterpart.
- Positions: a ``posemb_type='sincos2d'`` model has no table; pass
  ``seq_len`` and the fixed table ``posemb_sincos_2d(1, L, D)`` is written
  into ``pos_embed`` (trainable here, fixed there).
"""
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from ..layers import FLAX_GELU, sincos_2d

__all__ = ['ConvertedDecoder', 'big_vision_cappa_to_locca', 'build_text_decoder',
           'MASK_LOGIT_BIAS']

#: Bias of the mask token's logit, which big_vision does not have (exp(-1e4) is 0 in float32).
MASK_LOGIT_BIAS = -1e4
_BLOCK = re.compile(r'^decoder/EncDecBlock(\d+)/(.+)$')
_QKV = ('query', 'key', 'value')


@dataclass
class ConvertedDecoder:
    """A converted decoder.

    Attributes:
        state_dict: TextDecoder names -> tensors.
        decoder: TextDecoder arguments the weights need (``vocab_size``,
            ``pad_id``, ``bos_id``, ``mask_id``, ``embed_dims``, ``num_layers``,
            ``num_heads``, ``mlp_ratio``, ``memory_dims``, ``max_len``,
            ``bias``, ``head_bias``, ``act_cfg``).
        notes: What was ignored, filled or computed, one line each.
    """

    state_dict: Dict[str, Tensor]
    decoder: dict
    notes: List[str] = field(default_factory=list)


def _root(keys) -> str:
    """'' or 'params/': where ``decoder/EmbedTargets/embedding`` is."""
    for root in ('params/', ''):
        if root + 'decoder/EmbedTargets/embedding' in keys:
            return root
    raise KeyError('not a big_vision CapPa model: no decoder/EmbedTargets/embedding under '
                   f'"" or "params/" (first keys: {sorted(keys)[:5]})')


def _decoder_tensors(params: Mapping[str, np.ndarray]) -> Tuple[Dict[str, Tensor], List[str]]:
    """The decoder's float32 tensors (root stripped, a scanned stack split), and notes."""
    root = _root(params)
    own = {k[len(root):]: np.asarray(v) for k, v in params.items() if k.startswith(root)}
    ignored = sorted(k for k in own if not k.startswith('decoder/')
                     and k != 'pos_embedding_decoder')
    out = {}
    for k, v in own.items():
        if k.startswith('decoder/EncDecBlock/'):  # nn.scan: layers on axis 1
            rest = k[len('decoder/EncDecBlock/'):]
            for i in range(v.shape[1]):
                out[f'decoder/EncDecBlock{i}/{rest}'] = np.take(v, i, axis=1)
        elif k not in ignored:
            out[k] = v
    notes = [f'big_vision root {root!r}; {len(params) - len(own)} parameters outside it and '
             f'{len(ignored)} outside the decoder (encoder etc.) ignored']
    return {k: torch.from_numpy(np.ascontiguousarray(v)).float() for k, v in out.items()}, notes


def _heads_in(kernel: Tensor) -> Tuple[int, Tensor]:
    """A flax [in, H, Dh] kernel -> (H, torch weight [H * Dh, in])."""
    return kernel.shape[1], kernel.flatten(1).t()


def _pop_attention(t: Dict[str, Tensor], src: str) -> Dict[str, Tensor]:
    """``src`` (``.../SelfAttn/`` or ``.../CrossAttn/``): q, k, v [out, in] and proj [D, D]."""
    weights = {n: _heads_in(t.pop(f'{src}{n}/kernel'))[1] for n in _QKV}
    weights['out'] = t.pop(src + 'out/kernel').flatten(0, 1).t()
    return weights


def _pop_norm(t: Dict[str, Tensor], src: str, dst: str, bias: bool) -> Dict[str, Tensor]:
    """A flax LayerNorm (``scale``, ``bias`` if it has one) as torch ``weight``/``bias``."""
    state = {dst + 'weight': t.pop(src + 'scale')}
    if bias:
        state[dst + 'bias'] = t.pop(src + 'bias')
    return state


def _pop_block(t: Dict[str, Tensor], i: int, bias: bool) -> Dict[str, Tensor]:
    """Block ``i``'s TextDecoder tensors (zero attention biases when ``bias``)."""
    src, dst = f'decoder/EncDecBlock{i}/', f'blocks.{i}.'
    sa, ca = _pop_attention(t, src + 'SelfAttn/'), _pop_attention(t, src + 'CrossAttn/')
    state = {dst + 'self_attn.qkv.weight': torch.cat([sa[n] for n in _QKV]),
             dst + 'self_attn.proj.weight': sa['out'].contiguous(),
             dst + 'cross_attn.q.weight': ca['query'].contiguous(),
             dst + 'cross_attn.kv.weight': torch.cat([ca['key'], ca['value']]),
             dst + 'cross_attn.proj.weight': ca['out'].contiguous()}
    for n in (1, 2, 3):
        state.update(_pop_norm(t, f'{src}LayerNorm{n}/', f'{dst}norm{n}.', bias))
    for j in (0, 1):
        dense = f'{src}MLP/Dense_{j}/'
        state[f'{dst}mlp.fc{j + 1}.weight'] = t.pop(dense + 'kernel').t().contiguous()
        if bias:
            state[f'{dst}mlp.fc{j + 1}.bias'] = t.pop(dense + 'bias')
    if bias:  # TextDecoder(bias=True) has attention biases; big_vision has none
        for name in ('self_attn.qkv', 'self_attn.proj', 'cross_attn.q', 'cross_attn.kv',
                     'cross_attn.proj'):
            state[f'{dst}{name}.bias'] = state[f'{dst}{name}.weight'].new_zeros(
                state[f'{dst}{name}.weight'].shape[0])
    return state


def _position_table(t: Dict[str, Tensor], dim: int, seq_len: Optional[int],
                    notes: List[str]) -> Tensor:
    """[1, L + 1, D]: the learned table (or the sin-cos one) and a zero row."""
    if 'pos_embedding_decoder' in t:
        table = t.pop('pos_embedding_decoder')
    elif seq_len is None:
        raise KeyError('no pos_embedding_decoder (a posemb_type="sincos2d" model): pass seq_len')
    else:
        table = sincos_2d(1, seq_len, dim)
        notes.append(f'no pos_embedding_decoder: wrote the fixed sin-cos table of {seq_len} '
                     'positions (big_vision posemb_sincos_2d(1, L, D)); trainable here')
    return torch.cat([table, table.new_zeros(1, 1, dim)], dim=1)


def _head(t: Dict[str, Tensor], vocab_in: int, notes: List[str]) -> Dict[str, Tensor]:
    """Final norm and logit layer; a mask-token row (zero, bias -1e4) when the table has one."""
    weight = t.pop('decoder/LogitsDense/kernel').t()
    bias = t.pop('decoder/LogitsDense/bias')
    extra = vocab_in - weight.shape[0]
    if extra not in (0, 1):
        raise KeyError(f'EmbedTargets has {vocab_in} rows for {weight.shape[0]} logits')
    if extra:
        weight = torch.cat([weight, weight.new_zeros(1, weight.shape[1])])
        bias = torch.cat([bias, bias.new_full((1,), MASK_LOGIT_BIAS)])
        notes.append(f'mask token {vocab_in - 1}: a logit row big_vision has not '
                     f'(zero weights, bias {MASK_LOGIT_BIAS})')
    state = _pop_norm(t, 'decoder/LayerNorm/', 'norm.', True)
    state.update({'logit_layer.weight': weight.contiguous(), 'logit_layer.bias': bias})
    return state


def big_vision_cappa_to_locca(params: Mapping[str, np.ndarray],
                              seq_len: Optional[int] = None) -> ConvertedDecoder:
    """Convert a big_vision CapPa decoder (``/``-joined names) to TextDecoder's.

    Args:
        params: name -> array of a CapPa model (the encoder's are ignored).
        seq_len: the model's ``seq_len``; needed only without a learned table.

    Raises:
        KeyError: not a CapPa model, or decoder parameters this mapping does
            not know (named).
    """
    t, notes = _decoder_tensors(params)
    embedding = t.pop('decoder/EmbedTargets/embedding')
    vocab_in, dim = embedding.shape
    layers = sorted({int(m.group(1)) for k in t if (m := _BLOCK.match(k))})
    bias = f'decoder/EncDecBlock{layers[0]}/MLP/Dense_0/bias' in t
    kernel = t[f'decoder/EncDecBlock{layers[0]}/SelfAttn/query/kernel']
    memory_dims = t[f'decoder/EncDecBlock{layers[0]}/CrossAttn/key/kernel'].shape[0]
    mlp_dim = t[f'decoder/EncDecBlock{layers[0]}/MLP/Dense_0/kernel'].shape[1]
    masked = vocab_in == t['decoder/LogitsDense/bias'].shape[0] + 1  # a mask token
    state = {'token_embed.weight': embedding,
             'pos_embed': _position_table(t, dim, seq_len, notes)}
    for i in layers:
        state.update(_pop_block(t, i, bias))
    state.update(_head(t, vocab_in, notes))
    if t:
        raise KeyError(f'big_vision decoder parameters without a TextDecoder counterpart: '
                       f'{sorted(t)}')
    if bias:
        notes.append('decoder_bias=True: TextDecoder(bias=True) adds attention biases, zero')
    notes.append(f"big_vision's MLP uses the tanh-approximated GELU: act_cfg={FLAX_GELU}")
    args = dict(vocab_size=vocab_in, pad_id=0, bos_id=0,
                mask_id=vocab_in - 1 if masked else None, embed_dims=dim,
                num_layers=len(layers), num_heads=kernel.shape[1],
                mlp_ratio=mlp_dim / dim, memory_dims=memory_dims,
                max_len=state['pos_embed'].shape[1] - 1, bias=bias, head_bias=True,
                act_cfg=dict(FLAX_GELU))
    return ConvertedDecoder(state, args, notes)


def build_text_decoder(converted: ConvertedDecoder, **kwargs):
    """A ``TextDecoder`` (eval mode) holding the converted weights, loaded strictly.

    ``kwargs`` override the converted arguments. A model trained without
    parallel prediction has no mask token (``mask_id`` None): it is set to
    ``pad_id`` unless given, and parallel rows mean nothing for it.
    """
    from .text_decoder import TextDecoder
    args = dict(converted.decoder, **kwargs)
    if args['mask_id'] is None:
        args['mask_id'] = args['pad_id']
    model = TextDecoder(**args)
    model.load_state_dict(converted.state_dict, strict=True)
    return model.eval()
