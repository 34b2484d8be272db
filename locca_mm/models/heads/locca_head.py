"""LocCaHead: the task rows, their losses, and decoding, over one shared decoder."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor

from locca_mm.registry import MODELS
from locca_mm.structures import TaskBatch, box_frame, to_input_frame, to_original
from locca_mm.structures.tasks import TRAIN_TASKS, PredictTask, check_train_tasks, predict_task
from locca_mm.tokenizers.builder import build_tokenizer
from locca_mm.tokenizers.locca import BOX_LEN

from ..decoding import DECODE_CACHES, GenerationControls, constraint_for, generate
from ..layers import AttentionPool
from ..text import VisualMemory
from .detect_sequence import detect_sequence
from .gcap_decoding import box_instances, detect_beams, gcap_mixed
from .static_rows import ce_sum, gaussian_loc_loss, masked_loss_sum, row_length, static_losses

__all__ = ['LocCaHead', 'zero_loss', 'to_input_frame', 'to_original']


def zero_loss(anchor: Tensor) -> Tensor:
    """An exact 0 computed from ``anchor`` (``anchor.sum() * 0``): the loss of a task
    with no rows in this batch.

    Not a constant, so that the loss stays a differentiable function of the
    same graph on every rank whichever rows each rank's batch happened to
    hold: under DDP every rank must run the same backward (a rank whose loss
    had no ``grad_fn`` would raise while the others wait in the gradient
    all-reduce). The anchor is the visual memory (or the logits), which every
    step computes anyway, so it adds exactly 0 to the loss and to every
    gradient. The key stays in the loss dict, so logs show 0 rather than a gap.
    """
    return anchor.sum() * 0.0


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
    decoder layers, a text-CLS token and a :class:`ContrastiveHead`
    (:meth:`loss_and_text_embedding`).

    Args:
        decoder (dict): :class:`TextDecoder` config; the vocabulary and special
            ids come from ``tokenizer``.
        tokenizer: the model's :class:`LocCaTokenizer` (object or config).
        tasks (Sequence[str]): trained tasks, a subset of
            :data:`~locca_mm.structures.tasks.TRAIN_TASKS`.
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
        static_shapes (bool): the training rows in static shapes (:mod:`.static_rows`):
            one graph for ``torch.compile``, the same losses up to float rounding.
            Defaults to False (rows padded to the batch's longest: the eager layout).
        shape_bucket (int): the static layout's row lengths are multiples of it.
    """

    def __init__(self,
                 decoder: dict,
                 tokenizer,
                 tasks: Sequence[str] = TRAIN_TASKS,
                 loss_weights: Optional[Dict[str, float]] = None,
                 parallel_ratio: float = 0.5,
                 label_smoothing: float = 0.0,
                 loc_sigma: float = 0.0,
                 memory_pool: Optional[dict] = None,
                 memory_dims: Optional[int] = None,
                 static_shapes: bool = False,
                 shape_bucket: int = 16,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.static_shapes, self.shape_bucket = static_shapes, shape_bucket
        self.tokenizer = build_tokenizer(tokenizer)
        self.tasks = check_train_tasks(tasks)
        self.loss_weights = {t: 1.0 for t in self.tasks}
        self.loss_weights.update(loss_weights or {})
        if not 0.0 <= parallel_ratio <= 1.0:
            raise ValueError(f'parallel_ratio must be within [0, 1], got {parallel_ratio}')
        self.parallel_ratio = parallel_ratio
        self.label_smoothing = label_smoothing
        self.loc_sigma = loc_sigma
        self.pad_id = self.tokenizer.text_tokenizer.pad_id
        # The prefix of a Cap row without a question (longer rows carry one: never parallel).
        self._cap_prefix_len = len(self.tokenizer.prompt('cap')) \
            if 'cap' in self.tokenizer.tasks else 0
        decoder = dict(decoder)
        if memory_dims is not None:
            decoder.setdefault('memory_dims', memory_dims)
        self.memory_pool = None
        if memory_pool is not None:
            pool_dims = memory_dims or decoder.get('memory_dims') or decoder.get('embed_dims')
            self.memory_pool = AttentionPool(pool_dims, memory_pool.get('num_heads', 8),
                                             num_queries=memory_pool.get('num_queries', 256))
        self.decoder = MODELS.build(decoder, default_args=self._vocabulary())
        longest = max(self.tokenizer.max_length[t] for t in self.tasks)
        if longest > self.decoder.max_len:
            raise ValueError(f'the tokenizer allows {longest}-token sequences but the decoder '
                             f'max_len is {self.decoder.max_len}')

    def _vocabulary(self) -> dict:
        """The decoder's vocabulary arguments, from the tokenizer."""
        vocab = self.tokenizer.text_tokenizer
        return dict(vocab_size=vocab.vocab_size, pad_id=vocab.pad_id, bos_id=vocab.bos_id,
                    mask_id=vocab.mask_id, loc_offset=vocab.loc_offset,
                    num_bins=self.tokenizer.num_bins)

    def project_memory(self, visual: Tensor) -> VisualMemory:
        """visual: [B, N, D] -> the decoder's cross-attention memory (once per image)."""
        if self.memory_pool is not None:
            visual = self.memory_pool(visual)
        return self.decoder.project_memory(visual)

    # ------------------------------------------------------------------ training
    def loss(self, memory: VisualMemory, batches: Dict[str, TaskBatch]) -> Dict[str, Tensor]:
        """Per-task losses ``loss_cap``, ``loss_aref``, ``loss_gcap``.

        Args:
            memory: visual memory of the B images.
            batches: task -> :class:`TaskBatch` (a task may be absent or have no
                rows: its loss is then :func:`zero_loss`, e.g. a batch without
                eligible regions).

        The token embeddings of every task's rows are looked up in one call:
        the embedding table's gradient is then one [V, D] buffer per step, not
        one per decoder call (four with LocCa's two Cap groups, ARef and GCap).
        """
        return self._losses(memory, batches, self.tasks)

    def _losses(self, memory: VisualMemory, batches: Dict[str, TaskBatch],
                tasks: Sequence[str]) -> Dict[str, Tensor]:
        """``loss_<task>`` of ``tasks`` in the head's row layout (:func:`zero_loss`: no rows)."""
        losses = static_losses(self, memory, batches, tasks) if self.static_shapes else \
            self._dynamic_losses(memory, batches, tasks)
        return {f'loss_{t}': losses[t] if t in losses else zero_loss(memory.kv[0][0])
                for t in tasks}

    def _dynamic_losses(self, memory: VisualMemory, batches: Dict[str, TaskBatch],
                        tasks: Sequence[str]) -> Dict[str, Tensor]:
        """task -> weighted loss of the tasks with rows, padded to the batch's longest; their
        decoder calls share one embedding lookup."""
        groups = [(task, rows, par) for task in tasks
                  for rows, par in self._row_groups(task, batches.get(task))]
        embeds = self.decoder.embed_inputs(
            [self.decoder.shifted_inputs(rows.tokens, par) for _, rows, par in groups])
        sums: Dict[str, Tuple[Tensor, int]] = {}
        for (task, rows, par), embed in zip(groups, embeds):
            logits = self.decoder(rows.tokens, memory.index_select(rows.rows), parallel=par,
                                  logits_at=rows.loss_mask(self.pad_id), input_embeds=embed)
            s, n = self._loss_sum(logits, rows)
            total, count = sums.get(task, (None, 0))
            sums[task] = (s if total is None else total + s, count + n)
        return {task: self._weighted(task, *sums[task]) for task in sums}

    def loss_and_text_embedding(self, memory: VisualMemory, batches: Dict[str, TaskBatch]
                                ) -> Tuple[Dict[str, Tensor], Optional[Tensor]]:
        """:meth:`loss` and the text embedding [B, D] of the Cap rows (CoCa), in one pass.

        The Cap rows run causally through
        :meth:`TextDecoder.forward_with_text_embedding`; the embedding is None
        when the batch has no Cap rows.
        """
        losses, text_embedding = {}, None
        for task in self.tasks:
            batch = batches.get(task)
            if task != 'cap' or batch is None or batch.num_rows == 0:
                losses[f'loss_{task}'] = self._task_loss(task, batch, memory)
                continue
            self._parallel_rows(task, batch)  # drawn (and unused) as before: same RNG stream
            if self.static_shapes:
                batch = batch.pad_to(row_length(self, task, batch, None), self.pad_id)
            out = self.decoder.forward_with_text_embedding(
                batch.tokens, memory.index_select(batch.rows),
                logits_at=None if self.static_shapes else batch.loss_mask(self.pad_id))
            text_embedding = out.text_embedding
            total, count = masked_loss_sum(self, out.logits, batch) if self.static_shapes \
                else self._loss_sum(out.logits, batch)
            losses[f'loss_{task}'] = self._weighted(task, total, count)
        return losses, text_embedding

    def _row_groups(self, task: str, batch: Optional[TaskBatch]
                    ) -> List[Tuple[TaskBatch, Optional[Tensor]]]:
        """A task's rows as decoder calls: ``(rows, parallel flags or None)``.

        Autoregressive rows run at the batch's length. Parallel rows (CapPa,
        drawn here while training) run apart, padded to the task's
        ``max_length``, so that the positions they attend to do not tell where
        the caption ends.
        """
        if batch is None or batch.num_rows == 0:
            return []
        parallel = self._parallel_rows(task, batch)
        if parallel is None or not bool(parallel.any()):
            return [(batch, None)]
        fixed = self.tokenizer.max_length[task]
        rest, par = batch.select(~parallel), batch.select(parallel).pad_to(fixed, self.pad_id)
        groups = [] if rest.num_rows == 0 else [(rest, None)]
        return groups + [(par, True)]

    def _task_loss(self, task: str, batch: Optional[TaskBatch], memory: VisualMemory) -> Tensor:
        """The weighted token-mean loss of one task's rows (:func:`zero_loss` without rows)."""
        return self._losses(memory, {task: batch}, (task, ))[f'loss_{task}']

    def _parallel_rows(self, task: str, batch: TaskBatch) -> Optional[Tensor]:
        """bool [R]: the Cap rows drawn for parallel prediction while training (else None).

        A row with a question in its prompt (VQA) is never parallel: its inputs, the
        question's included, would all be masked."""
        if task == 'cap' and self.parallel_ratio > 0 and self.training:
            drawn = torch.rand(batch.num_rows, device=batch.tokens.device) < self.parallel_ratio
            return drawn & (batch.prefix_len <= self._cap_prefix_len)
        return None

    def _weighted(self, task: str, total: Tensor, count) -> Tensor:  # count: int or tensor
        count = count.clamp(min=1) if isinstance(count, Tensor) else max(count, 1)
        return self.loss_weights[task] * total / count

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
            return zero_loss(logits), 0
        if not self.loc_sigma:
            return ce_sum(self, logits, targets), targets.numel()
        is_loc = self.tokenizer.text_tokenizer.is_loc(targets)
        plain = ce_sum(self, logits, targets.masked_fill(is_loc, -100))
        return plain + gaussian_loc_loss(self, logits[is_loc], targets[is_loc]), targets.numel()

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def score_texts(self, memory: VisualMemory, texts: Sequence[str], rows: Sequence[int],
                    task: str = 'cap', chunk: int = 1024) -> Tuple[Tensor, Tensor]:
        """The log-likelihood of each text as the target of ``task``'s training sequence.

        Text ``i`` is scored against image ``rows[i]`` of ``memory``,
        teacher-forced and autoregressive: the sum of the log-probabilities of
        its trained tokens (for Cap: the caption's tokens and eos, after the
        prefix; the positions :meth:`loss` trains on), and their number. So
        ``-sum / count`` is the token-mean cross-entropy (without label
        smoothing) that :meth:`loss` computes for the same rows.

        Args:
            memory: visual memory of the images.
            texts: the texts (captions, class names).
            rows: the image index of each text.
            task (str): the training task whose sequence the text completes. Defaults to 'cap'.
            chunk (int): texts per decoder call (bounds memory: zero-shot scores
                images x classes rows).

        Returns:
            (log-likelihood [R] float32, token count [R] long).
        """
        device = memory.kv[0][0].device
        sums, counts = [], []
        for start in range(0, len(texts), chunk):
            seqs = [self.tokenizer.build(task, text=t) for t in texts[start:start + chunk]]
            index = torch.as_tensor(list(rows[start:start + chunk]), dtype=torch.long,
                                    device=device)
            batch = TaskBatch.from_sequences(seqs, list(range(len(seqs))), len(seqs),
                                             self.pad_id, device)._replace(rows=index)
            mask = batch.loss_mask(self.pad_id)
            logits = self.decoder(batch.tokens, memory.index_select(index), logits_at=mask)
            logp = logits.float().log_softmax(-1).gather(-1, batch.tokens[mask][:, None])[:, 0]
            row_of = mask.nonzero()[:, 0]
            sums.append(torch.zeros(len(seqs), device=device).index_add_(0, row_of, logp))
            counts.append(mask.sum(1))
        return torch.cat(sums), torch.cat(counts)

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict(self, memory: VisualMemory, data_samples: List, task: str,
                num_beams: int = 1, max_new_tokens: Optional[int] = None,
                length_penalty: float = 0.0, controls: Optional[GenerationControls] = None,
                cache: str = 'dynamic', **detect_seq_cfg) -> List:
        """Decode ``task`` (:data:`~locca_mm.structures.tasks.PREDICT_TASKS`) for every
        sample (memory has one row per sample).

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
        - ``'vqa'``: ``pred_answer`` (= ``pred_caption``) to ``prompt_text``.
        - ``'detect_seq'``: every object in one sequence, greedily (:func:`detect_sequence`;
          ``detect_seq_cfg``: its ``max_boxes`` and ``classes``).

        ``controls`` (:class:`~locca_mm.models.decoding.GenerationControls`):
        sampling, repetition penalty, no-repeat n-grams for 'cap', 'ref', 'gcap' and
        'vqa' (text tokens only are penalised; box positions stay location tokens);
        'detect' and 'detect_seq' refuse them. ``cache``: their KV cache (``DECODE_CACHES``).
        """
        spec = predict_task(task)
        decoding = self._controls(spec.name, controls)
        if spec.name == 'detect_seq':
            return detect_sequence(self, memory, data_samples, max_new_tokens, **detect_seq_cfg)
        if spec.name == 'detect':
            return detect_beams(self, memory, data_samples, num_beams, max_new_tokens)
        if spec.takes_box and any(ds.get('prompt_box') is None for ds in data_samples):
            return gcap_mixed(self, memory, data_samples, num_beams, max_new_tokens, controls)
        prompts = [self._prompt(spec, ds) for ds in data_samples]
        if max_new_tokens is None:
            longest = max(len(p) for p in prompts)  # left-padded: every row gets its room
            max_new_tokens = BOX_LEN + 1 if spec.constraint == 'box' else min(
                self.tokenizer.max_length[spec.train_task] - min(len(p) for p in prompts),
                self.decoder.max_len - longest)
        out = generate(self.decoder, memory, prompts, constraint_for(task, self.tokenizer),
                       self.tokenizer.text_tokenizer.eos_id, max_new_tokens,
                       num_beams=num_beams, length_penalty=length_penalty, **decoding,
                       **DECODE_CACHES[cache])
        return self._write_predictions(spec, out, data_samples, task)

    def _write_predictions(self, spec: PredictTask, out, data_samples: List, task: str) -> List:
        """Each sample's box (with its score) or text, from its row of ``out``."""
        for i, ds in enumerate(data_samples):
            ids = out.tokens[i, :out.lengths[i]]
            if spec.predicts_box:
                ds.pred_instances = box_instances(self.tokenizer, ids[None, :BOX_LEN],
                                                  ds.metainfo,
                                                  (out.scores[i] / out.lengths[i]).exp()[None])
            else:
                ds.pred_caption = self.tokenizer.parse_text(ids)
                if spec.name == 'vqa':  # mmpretrain's VQA metrics read pred_answer
                    ds.pred_answer = ds.pred_caption
            ds.task = task
        return data_samples

    def _controls(self, task: str, controls: Optional[GenerationControls]) -> dict:
        """``generate``'s ``controls`` and ``penalized`` (the text tokens) for ``task``."""
        if controls is None or controls.is_default:
            return {}
        if task in ('detect', 'detect_seq'):
            raise ValueError(f'sampling, repetition_penalty and no_repeat_ngram_size apply to '
                             f'cap, ref, gcap and vqa, not to "{task}"')
        return dict(controls=controls,
                    penalized=self.tokenizer.text_tokenizer.text_token_mask())

    def _prompt(self, spec: PredictTask, ds) -> Tensor:
        """The prompt of one sample for ``spec`` (its text or its box, in the model's frame)."""
        tok = self.tokenizer
        device = self.decoder.pos_embed.device
        if spec.needs_text:
            if not ds.get('prompt_text'):
                raise ValueError(f'a "{spec.name}" prediction needs its text (the referring '
                                 'expression or question) in data_sample.prompt_text')
            cut_before = tok.truncated_prompts
            text = dict(question=ds.prompt_text) if spec.name == 'vqa' else \
                dict(text=ds.prompt_text)
            prompt = tok.prompt(spec.train_task, **text).to(device)
            ds.prompt_truncated = tok.truncated_prompts > cut_before
            return prompt
        if not spec.takes_box:
            return tok.prompt(spec.train_task).to(device)
        box = to_input_frame(torch.as_tensor(ds.prompt_box, dtype=torch.float32).view(1, 4),
                             ds.metainfo)[0]
        return tok.prompt(spec.train_task, box=box, img_shape=box_frame(ds.metainfo)).to(device)
