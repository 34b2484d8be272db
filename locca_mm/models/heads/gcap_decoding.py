"""GCap without a given box: the box decoded first, then its text (``'gcap'`` samples
without ``prompt_box``; ``'detect'``: one box per beam), for :class:`LocCaHead`."""
from typing import List, Optional

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from locca_mm.structures import box_frame, to_original
from locca_mm.tokenizers.locca import BOX_LEN

from ..decoding import constraint_for, generate
from ..text import VisualMemory

__all__ = ['box_instances', 'gcap_mixed', 'detect_beams']


def box_instances(tokenizer, loc_ids: Tensor, metainfo: dict, scores: Tensor) -> InstanceData:
    """``pred_instances`` of boxes given as location ids [K, 4], in original-image pixels."""
    pred = InstanceData()
    pred.bboxes = to_original(tokenizer.parse_box(loc_ids, box_frame(metainfo)), metainfo)
    pred.scores = scores
    return pred


def gcap_mixed(head, memory: VisualMemory, data_samples: List, num_beams: int,
               max_new_tokens: Optional[int], controls=None) -> List:
    """GCap for samples with a ``prompt_box`` (text decoded) and without (box, then text);
    ``controls``: :class:`~locca_mm.models.decoding.GenerationControls` for both."""
    tok = head.tokenizer
    free = [i for i, ds in enumerate(data_samples) if ds.get('prompt_box') is None]
    given = [i for i in range(len(data_samples)) if i not in free]
    device = head.decoder.pos_embed.device
    if given:
        index = torch.tensor(given, device=device)
        head.predict(memory.index_select(index), [data_samples[i] for i in given], 'gcap',
                     num_beams=num_beams, max_new_tokens=max_new_tokens, controls=controls)
    index = torch.tensor(free, device=device)
    prompt = tok.prompt('gcap').to(device)
    sep = len(tok.text_tokenizer.encode(tok.separator))
    new = max_new_tokens or tok.max_length['gcap'] - len(prompt)
    out = generate(head.decoder, memory.index_select(index), [prompt] * len(free),
                   constraint_for('detect', tok), tok.text_tokenizer.eos_id, new,
                   num_beams=num_beams, **head._controls('gcap', controls))
    for row, i in enumerate(free):
        ds = data_samples[i]
        ids = out.tokens[row, :out.lengths[row]]
        ds.pred_instances = box_instances(tok, ids[None, :BOX_LEN], ds.metainfo,
                                          (out.scores[row] / out.lengths[row]).exp()[None])
        ds.pred_caption = tok.parse_text(ids[BOX_LEN + sep:])
        ds.task = 'gcap'
    return data_samples


def detect_beams(head, memory: VisualMemory, data_samples: List, num_beams: int,
                 max_new_tokens: Optional[int]) -> List:
    """Boxes by beam search after ``GCap:``, then each box's text by a GCap prompt."""
    tok, eos = head.tokenizer, head.tokenizer.text_tokenizer.eos_id
    device = head.decoder.pos_embed.device
    prefix = torch.tensor(tok.text_tokenizer.encode(tok.prefixes['gcap']), dtype=torch.long,
                          device=device)
    b = len(data_samples)
    boxes = generate(head.decoder, memory, [prefix] * b, constraint_for('detect', tok), eos,
                     BOX_LEN, num_beams=num_beams, return_all_beams=True)
    k = boxes.tokens.shape[1]
    loc = boxes.tokens[:, :, :BOX_LEN]  # [B, K, 4] location token ids
    sep = torch.tensor(tok.text_tokenizer.encode(tok.separator), dtype=torch.long,
                       device=device)
    prompts = [torch.cat([prefix, loc[i, j], sep]) for i in range(b) for j in range(k)]
    rows = torch.arange(b, device=device).repeat_interleave(k)
    if max_new_tokens is None:
        max_new_tokens = tok.max_length['gcap'] - len(prompts[0])
    texts = generate(head.decoder, memory.index_select(rows), prompts,
                     constraint_for('gcap', tok), eos, max_new_tokens)
    for i, ds in enumerate(data_samples):
        idx = [j for j in range(k) if torch.isfinite(boxes.scores[i, j])]
        rows_i = [i * k + j for j in idx]
        logp = boxes.scores[i, idx] + texts.scores[rows_i]
        scores = (logp / (BOX_LEN + texts.lengths[rows_i])).exp()
        if idx:
            pred = box_instances(tok, loc[i, idx], ds.metainfo, scores)
        else:
            pred = InstanceData(bboxes=torch.zeros(0, 4, device=device), scores=scores)
        pred.texts = [tok.parse_text(texts.tokens[r, :texts.lengths[r]]) for r in rows_i]
        ds.pred_instances = pred
        ds.task = 'detect'
    return data_samples
