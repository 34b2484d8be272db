"""LocCaHead: the task rows, their losses, and decoding, over one shared decoder."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from locca_mm.registry import MODELS
from locca_mm.structures import TaskBatch, box_frame

from ..decoders import VisualMemory
from ..decoding import constraint_for, generate
from ..layers import AttentionPool
from ..tokenizers.builder import build_tokenizer

#: Prediction task -> the training task whose prompt it continues.
PREDICT_TASKS = {'cap': 'cap', 'ref': 'aref', 'aref': 'aref', 'gcap': 'gcap', 'detect': 'gcap'}


@MODELS.register_module()
class LocCaHead(BaseModule):
    """Cap / ARef / GCap rows through one :class:`TextDecoder`.

    Training (:meth:`loss`): every task's rows (padded only to that task's
    batch maximum) run through the decoder against the same visual memory,
    whose cross-attention keys/values were projected once per image. The loss
    of a task is the token-mean cross-entropy over its trained positions
    (after its prefix; which parts of ARef / GCap are trained is the
    tokenizer's ``loss_on``). While training, a random fraction
    ``parallel_ratio`` of the Cap rows runs in parallel-prediction mode
    (CapPa), padded to the caption ``max_length`` with full attention over
    the row; in eval mode every row is autoregressive, so validation losses
    are deterministic.

    Baselines are configurations: Cap is ``tasks=('cap',)`` with
    ``parallel_ratio=0``; CapPa raises ``parallel_ratio``; CoCa adds unimodal
    decoder layers, a text-CLS token and a :class:`ContrastiveHead`.

    Args:
        decoder (dict): :class:`TextDecoder` config; the vocabulary and special
            ids come from ``tokenizer``.
        tokenizer: the model's :class:`LocCaTokenizer` (object or config).
        tasks (Sequence[str]): trained tasks, a subset of ``('cap', 'aref', 'gcap')``.
        loss_weights (dict, optional): per-task loss weight (default 1 each).
        parallel_ratio (float): share of Cap rows in parallel prediction. Defaults to 0.5.
        label_smoothing (float): label smoothing of the cross-entropy. Defaults to 0.
        loc_sigma (float): if > 0, location tokens are trained towards a
            Gaussian of this width (in bins) around the true bin, so a near
            miss costs less than a far one; 0 (default, the paper's loss) is
            plain cross-entropy on the true bin.
        memory_pool (dict, optional): ``dict(num_queries=256, num_heads=...)``
            pools the visual tokens with an attentional pooler before the
            decoder attends to them (CoCa); None attends to the tokens directly.
        memory_dims (int, optional): width of the visual tokens (set by the model).
    """

    TASKS = ('cap', 'aref', 'gcap')

    def __init__(self,
                 decoder: dict,
                 tokenizer,
                 tasks: Sequence[str] = ('cap', 'aref', 'gcap'),
                 loss_weights: Optional[Dict[str, float]] = None,
                 parallel_ratio: float = 0.5,
                 label_smoothing: float = 0.0,
                 loc_sigma: float = 0.0,
                 memory_pool: Optional[dict] = None,
                 memory_dims: Optional[int] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.tokenizer = build_tokenizer(tokenizer)
        unknown = set(tasks) - set(self.TASKS)
        if unknown or not tasks:
            raise ValueError(f'unknown tasks {sorted(unknown)}: choose from {self.TASKS}')
        self.tasks = tuple(tasks)
        self.loss_weights = {t: 1.0 for t in self.tasks}
        self.loss_weights.update(loss_weights or {})
        if not 0.0 <= parallel_ratio <= 1.0:
            raise ValueError(f'parallel_ratio must be within [0, 1], got {parallel_ratio}')
        self.parallel_ratio = parallel_ratio
        self.label_smoothing = label_smoothing
        self.loc_sigma = loc_sigma
        text = self.tokenizer.text
        self.pad_id = text.pad_id
        decoder = dict(decoder)
        if memory_dims is not None:
            decoder.setdefault('memory_dims', memory_dims)
        self.memory_pool = None
        if memory_pool is not None:
            pool_dims = memory_dims or decoder.get('memory_dims') or decoder.get('embed_dims')
            self.memory_pool = AttentionPool(pool_dims, memory_pool.get('num_heads', 8),
                                             num_queries=memory_pool.get('num_queries', 256))
        self.decoder = MODELS.build(
            decoder,
            default_args=dict(vocab_size=text.vocab_size, pad_id=text.pad_id,
                              bos_id=text.bos_id, mask_id=text.mask_id,
                              loc_offset=text.loc_offset, num_loc_tokens=text.num_loc_tokens))
        longest = max(self.tokenizer.max_length[t] for t in self.tasks)
        if longest > self.decoder.max_len:
            raise ValueError(f'the tokenizer allows {longest}-token sequences but the decoder '
                             f'max_len is {self.decoder.max_len}')

    def project_memory(self, visual: Tensor) -> VisualMemory:
        """visual: [B, N, D] -> the decoder's cross-attention memory (once per image)."""
        if self.memory_pool is not None:
            visual = self.memory_pool(visual)
        return self.decoder.project_memory(visual)

    # ------------------------------------------------------------------ training
    def loss(self, memory: VisualMemory, text: Dict[str, TaskBatch],
             return_text_embedding: bool = False
             ) -> Union[Dict[str, Tensor], Tuple[Dict[str, Tensor], Optional[Tensor]]]:
        """Per-task losses ``loss_cap``, ``loss_aref``, ``loss_gcap``.

        Args:
            memory: visual memory of the B images.
            text: task -> :class:`TaskBatch` (a task may be absent or have no rows:
                its loss is then 0, e.g. a batch without eligible regions).
            return_text_embedding: also return the text-CLS embedding of the
                Cap rows ([B, D], CoCa).
        """
        losses: Dict[str, Tensor] = {}
        text_emb = None
        for task in self.tasks:
            batch = text.get(task)
            if batch is None or batch.num_rows == 0:
                losses[f'loss_{task}'] = memory.kv[0][0].sum() * 0.0
                continue
            parallel = None
            if task == 'cap' and self.parallel_ratio > 0 and self.training:
                parallel = torch.rand(batch.num_rows, device=batch.tokens.device) \
                    < self.parallel_ratio
            if task == 'cap' and return_text_embedding:
                at = batch.loss_mask(self.pad_id)  # logits only where the loss is taken
                logits, text_emb = self.decoder(batch.tokens, memory.index_select(batch.rows),
                                                return_text_embedding=True, logits_at=at)
                total, count = self._loss_sum(logits, batch)
            else:
                total, count = self._rows_loss(task, batch, memory, parallel)
            losses[f'loss_{task}'] = self.loss_weights[task] * total / max(count, 1)
        if return_text_embedding:
            return losses, text_emb
        return losses

    def _rows_loss(self, task: str, batch: TaskBatch, memory: VisualMemory,
                   parallel: Optional[Tensor]) -> Tuple[Tensor, int]:
        """(summed token loss, token count) of a task's rows.

        Autoregressive rows run at the batch's length. Parallel rows (CapPa) run
        apart, padded to the task's ``max_length``, so that the positions they
        attend to do not tell where the caption ends.
        """
        groups = [(batch, None)]
        if parallel is not None and bool(parallel.any()):
            fixed = self.tokenizer.max_length[task]
            groups = [(batch.select(~parallel), None),
                      (batch.select(parallel).pad_to(fixed, self.pad_id), True)]
        total, count = None, 0
        for rows, par in groups:
            if rows.num_rows == 0:
                continue
            at = rows.loss_mask(self.pad_id)  # logits only where the loss is taken
            flags = None if par is None else at.new_ones(rows.num_rows)
            logits = self.decoder(rows.tokens, memory.index_select(rows.rows), parallel=flags,
                                  logits_at=at)
            s, n = self._loss_sum(logits, rows)
            total, count = (s if total is None else total + s), count + n
        return total, count

    def token_loss(self, logits: Tensor, batch: TaskBatch) -> Tensor:
        """Token-mean cross-entropy over the target positions.

        ``logits``: ``[R, T, V]`` for every position, or ``[M, V]`` for the M
        target positions only (``batch.loss_mask``, row by row), as the
        decoder returns them with ``logits_at``. With ``loc_sigma``, a location
        token's target is a Gaussian over the bins around the true one instead
        of the bin alone.
        """
        total, count = self._loss_sum(logits, batch)
        return total / max(count, 1)

    def _loss_sum(self, logits: Tensor, batch: TaskBatch) -> Tuple[Tensor, int]:
        """(summed cross-entropy, number of target tokens); see :meth:`token_loss`."""
        mask = batch.loss_mask(self.pad_id)
        if logits.dim() == 3:
            logits = logits[mask]
        targets = batch.tokens[mask]  # [M]
        logits = logits.float()
        if targets.numel() == 0:
            return logits.sum() * 0.0, 0
        if not self.loc_sigma:
            return F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing,
                                   reduction='sum'), targets.numel()
        text = self.tokenizer.text
        is_loc = text.is_loc(targets)
        plain = F.cross_entropy(logits, targets.masked_fill(is_loc, -100), ignore_index=-100,
                                label_smoothing=self.label_smoothing, reduction='sum')
        loc_logp = logits[is_loc].log_softmax(-1)[:, text.loc_offset:text.vocab_size]  # [L, K]
        bins = (targets[is_loc] - text.loc_offset).float()
        k = torch.arange(text.num_loc_tokens, device=logits.device, dtype=torch.float32)
        soft = (-(k[None] - bins[:, None])**2 / (2 * self.loc_sigma**2)).softmax(-1)
        loc = -(soft * loc_logp).sum()
        return plain + loc, targets.numel()

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict(self, memory: VisualMemory, data_samples: List, task: str,
                num_beams: int = 1, max_new_tokens: Optional[int] = None,
                length_penalty: float = 0.0) -> List:
        """Decode ``task`` for every sample (memory has one row per sample).

        - ``'cap'``: ``pred_caption``.
        - ``'ref'``: ``pred_instances.bboxes`` [1, 4] (xyxy, original image) and
          ``scores`` [1] from the sample's ``prompt_text``.
        - ``'gcap'``: ``pred_caption`` (the region's text) from ``prompt_box``
          (its box tokens are forced as the start of the answer); a sample
          without ``prompt_box`` gets the box decoded first, then its text:
          ``pred_instances.bboxes`` [1, 4], ``scores`` [1] and ``pred_caption``.
        - ``'detect'``: GCap with no box given — beam search over the box
          tokens after ``GCap:`` proposes ``num_beams`` distinct boxes, and each
          box's region text is then decoded as a GCap prompt: one detection per
          beam, ``pred_instances.bboxes`` [K, 4], ``scores`` [K], ``texts`` [K].
        """
        if task not in PREDICT_TASKS:
            raise ValueError(f'unknown task {task!r}: expected one of {sorted(PREDICT_TASKS)}')
        seq_task = PREDICT_TASKS[task]
        tok = self.tokenizer
        if task == 'detect':
            return self._detect(memory, data_samples, num_beams, max_new_tokens)
        if seq_task == 'gcap' and any(ds.get('prompt_box') is None for ds in data_samples):
            return self._gcap_mixed(memory, data_samples, num_beams, max_new_tokens)
        prompts = [self._prompt(seq_task, ds) for ds in data_samples]
        if max_new_tokens is None:
            max_new_tokens = 5 if seq_task == 'aref' else \
                tok.max_length[seq_task] - min(len(p) for p in prompts)
        out = generate(self.decoder, memory, prompts, constraint_for(task, tok),
                       tok.text.eos_id, max_new_tokens, num_beams=num_beams,
                       length_penalty=length_penalty)
        for i, ds in enumerate(data_samples):
            ids = out.tokens[i, :out.lengths[i]]
            if seq_task == 'aref':
                box = tok.parse_box(ids[:4], box_frame(ds.metainfo))
                pred = InstanceData()
                pred.bboxes = to_original(box[None], ds.metainfo)
                pred.scores = (out.scores[i] / out.lengths[i]).exp()[None]
                ds.pred_instances = pred
            else:
                ds.pred_caption = tok.parse_text(ids)
            ds.task = task
        return data_samples

    def _gcap_mixed(self, memory: VisualMemory, data_samples: List, num_beams: int,
                    max_new_tokens: Optional[int]) -> List:
        """GCap for samples with a ``prompt_box`` (text decoded) and without (box, then text)."""
        tok = self.tokenizer
        free = [i for i, ds in enumerate(data_samples) if ds.get('prompt_box') is None]
        given = [i for i in range(len(data_samples)) if i not in free]
        device = self.decoder.pos_embed.device
        if given:
            index = torch.tensor(given, device=device)
            self.predict(memory.index_select(index), [data_samples[i] for i in given], 'gcap',
                         num_beams=num_beams, max_new_tokens=max_new_tokens)
        index = torch.tensor(free, device=device)
        prompt = tok.prompt('gcap').to(device)
        sep = len(tok.text.encode(tok.separator))
        new = max_new_tokens or tok.max_length['gcap'] - len(prompt)
        out = generate(self.decoder, memory.index_select(index), [prompt] * len(free),
                       constraint_for('detect', tok), tok.text.eos_id, new,
                       num_beams=num_beams)
        for row, i in enumerate(free):
            ds = data_samples[i]
            ids = out.tokens[row, :out.lengths[row]]
            pred = InstanceData()
            pred.bboxes = to_original(tok.parse_box(ids[:4], box_frame(ds.metainfo))[None],
                                      ds.metainfo)
            pred.scores = (out.scores[row] / out.lengths[row]).exp()[None]
            ds.pred_instances = pred
            ds.pred_caption = tok.parse_text(ids[4 + sep:])
            ds.task = 'gcap'
        return data_samples

    def _detect(self, memory: VisualMemory, data_samples: List, num_beams: int,
                max_new_tokens: Optional[int]) -> List:
        """Boxes by beam search after ``GCap:``, then each box's text by a GCap prompt."""
        tok = self.tokenizer
        device = self.decoder.pos_embed.device
        prefix = torch.tensor(tok.text.encode(tok.prefixes['gcap']), dtype=torch.long,
                              device=device)
        b = len(data_samples)
        boxes = generate(self.decoder, memory, [prefix] * b, constraint_for('detect', tok),
                         tok.text.eos_id, 4, num_beams=num_beams, return_all_beams=True)
        k = boxes.tokens.shape[1]
        loc = boxes.tokens[:, :, :4]  # [B, K, 4] location token ids
        sep = torch.tensor(tok.text.encode(tok.separator), dtype=torch.long, device=device)
        prompts = [torch.cat([prefix, loc[i, j], sep]) for i in range(b) for j in range(k)]
        rows = torch.arange(b, device=device).repeat_interleave(k)
        if max_new_tokens is None:
            max_new_tokens = tok.max_length['gcap'] - len(prompts[0])
        texts = generate(self.decoder, memory.index_select(rows), prompts,
                         constraint_for('gcap', tok), tok.text.eos_id, max_new_tokens)
        for i, ds in enumerate(data_samples):
            frame = box_frame(ds.metainfo)
            live = torch.isfinite(boxes.scores[i])
            idx = [j for j in range(k) if live[j]]
            rows_i = [i * k + j for j in idx]
            logp = boxes.scores[i, idx] + texts.scores[rows_i]
            length = 4 + texts.lengths[rows_i]
            pred = InstanceData()
            pred.bboxes = to_original(tok.parse_box(loc[i, idx], frame), ds.metainfo) \
                if idx else torch.zeros(0, 4, device=device)
            pred.scores = (logp / length).exp()
            pred.texts = [tok.parse_text(texts.tokens[r, :texts.lengths[r]]) for r in rows_i]
            ds.pred_instances = pred
            ds.task = 'detect'
        return data_samples

    def _prompt(self, seq_task: str, ds) -> Tensor:
        tok = self.tokenizer
        device = self.decoder.pos_embed.device
        if seq_task == 'cap':
            return tok.prompt('cap').to(device)
        if seq_task == 'aref':
            if not ds.get('prompt_text'):
                raise ValueError('a "ref" prediction needs the referring expression in '
                                 'data_sample.prompt_text')
            cut_before = tok.truncated_prompts
            prompt = tok.prompt('aref', text=ds.prompt_text).to(device)
            ds.prompt_truncated = tok.truncated_prompts > cut_before
            return prompt
        box = to_input_frame(torch.as_tensor(ds.prompt_box, dtype=torch.float32).view(1, 4),
                             ds.metainfo)[0]
        return tok.prompt('gcap', box=box, img_shape=box_frame(ds.metainfo)).to(device)


def _scale(metainfo: dict, device) -> Tensor:
    """(w_scale, h_scale, w_scale, h_scale) from the original image to the model input."""
    sf = metainfo.get('scale_factor', (1.0, 1.0))
    sf = (float(sf), float(sf)) if isinstance(sf, (int, float)) else tuple(map(float, sf[:2]))
    return torch.tensor([sf[0], sf[1], sf[0], sf[1]], device=device)


def to_original(boxes: Tensor, metainfo: dict) -> Tensor:
    """Boxes [K, 4] of the model's input frame -> original-image pixels (clipped)."""
    boxes = boxes / _scale(metainfo, boxes.device)
    h, w = metainfo.get('ori_shape', box_frame(metainfo))[:2]
    limit = boxes.new_tensor([w, h, w, h])
    return torch.minimum(boxes.clamp(min=0), limit)


def to_input_frame(boxes: Tensor, metainfo: dict) -> Tensor:
    """Boxes [K, 4] in original-image pixels -> the model's input frame."""
    return boxes * _scale(metainfo, boxes.device)
