"""Detection by the decoder: every object of the image in one GCap sequence."""
from typing import List, Optional, Sequence

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from locca_mm.structures import box_frame, to_original
from locca_mm.tokenizers.detection import DEFAULT_MAX_BOXES, parse_detection_sequence

from ..decoding import constraint_for, generate
from ..text import VisualMemory

__all__ = ['detect_sequence', 'pair_scores']


def pair_scores(token_logp: Tensor, spans: Sequence[tuple], separator_len: int) -> Tensor:
    """The confidence of each pair: ``exp`` of the mean log-probability of its box and text
    tokens (the forced separator left out), from ``token_logp: [L]``. Returns ``[K]``."""
    if not spans:
        return token_logp.new_zeros(0)
    means = []
    for start, end in spans:
        keep = torch.cat([token_logp[start:start + 4], token_logp[start + 4 + separator_len:end]])
        means.append(keep.mean())
    return torch.stack(means).exp()


@torch.no_grad()
def detect_sequence(head, memory: VisualMemory, data_samples: List,
                    max_new_tokens: Optional[int] = None, max_boxes: int = DEFAULT_MAX_BOXES,
                    classes: Optional[Sequence[str]] = None) -> List:
    """Decode up to ``max_boxes`` box + text pairs per image in one GCap sequence.

    Greedy decoding after the GCap prefix under
    :class:`~locca_mm.models.decoding.DetectionConstraint` (texts
    restricted to ``classes`` when given), parsed into pairs. Each sample gets
    ``pred_instances`` with ``bboxes`` [K, 4] (xyxy, original-image pixels),
    ``scores`` [K] (:func:`pair_scores`: the geometric mean of the model's
    probabilities of the pair's box and text tokens), ``texts`` [K] (and
    ``labels`` [K], the index in ``classes``, when classes are given), and
    ``task = 'detect_seq'``.

    Args:
        head (LocCaHead): the model's head (decoder and tokenizer).
        memory (VisualMemory): one row per sample.
        data_samples (list): the samples (``metainfo`` with the input and
            original shapes).
        max_new_tokens (int, optional): the token budget after the prefix;
            None: the tokenizer's ``max_length['gcap']`` less the prefix.
        max_boxes (int): most pairs per image. Defaults to 25.
        classes (Sequence[str], optional): the allowed texts (category names);
            None: free text.
    """
    tok = head.tokenizer
    prompt = tok.prompt('gcap').to(head.decoder.pos_embed.device)
    if max_new_tokens is None:
        max_new_tokens = tok.max_length['gcap'] - len(prompt)
    constraint = constraint_for('detect_seq', tok, classes, max_boxes, max_new_tokens)
    out = generate(head.decoder, memory, [prompt] * len(data_samples), constraint,
                   tok.text_tokenizer.eos_id, max_new_tokens)
    sep = len(tok.text_tokenizer.encode(tok.separator))
    # A text's class: the index of its ids among the names the constraint spelled.
    label_of = None if constraint.names is None else \
        {tuple(ids): k for k, ids in enumerate(constraint.names)}
    for i, ds in enumerate(data_samples):
        ids = out.tokens[i, :out.lengths[i]]
        boxes, texts, spans = parse_detection_sequence(tok, ids, box_frame(ds.metainfo))
        pred = InstanceData()
        pred.bboxes = to_original(boxes.to(out.token_logp.device), ds.metainfo)
        pred.scores = pair_scores(out.token_logp[i], spans, sep)
        pred.texts = texts
        if label_of is not None:  # the class each text spells, and its name as given
            labels = [label_of[tuple(ids[s + 4 + sep:e].tolist())] for s, e in spans]
            pred.labels = torch.tensor(labels, dtype=torch.long, device=pred.scores.device)
            pred.texts = [classes[k].strip() for k in labels]
        ds.pred_instances = pred
        ds.task = 'detect_seq'
    return data_samples
