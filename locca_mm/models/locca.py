"""LocCa: a ViT encoder and one multi-task decoder; Cap, CapPa, CoCa and CLIP are configs of it."""
from typing import Dict, List, Optional

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import Tensor

from locca_mm.registry import MODELS
from locca_mm.structures import TaskBatch
from locca_mm.structures.tasks import SCORE_TASKS, TRAIN_TASKS
from locca_mm.tokenizers.builder import build_tokenizer
from locca_mm.tokenizers.signature import check_signature

from .decoding import DECODE_CACHES, GenerationControls
from .layers import extend_table


def decoder_sizes(backbone, decoder: dict) -> Dict[str, int]:
    """The decoder sizes a config leaves out, from the encoder: its width and heads, and
    half its depth (the CapPa recipe).

    Only the sizes missing from ``decoder`` are looked up, so a config that
    gives ``embed_dims``, ``num_heads`` and ``num_layers`` (as every base
    config does) takes nothing from the encoder.

    Raises:
        ValueError: a size is missing and the encoder does not say its own
            (no ``embed_dims`` / ``arch_settings``).
    """
    arch = dict(getattr(backbone, 'arch_settings', None) or {})
    arch.setdefault('embed_dims', getattr(backbone, 'embed_dims', None))
    found = dict(embed_dims=arch['embed_dims'], num_heads=arch.get('num_heads'),
                 num_layers=arch.get('num_layers') and max(1, arch['num_layers'] // 2))
    sizes = {}
    for key, value in found.items():
        if key in decoder:
            continue
        if value is None:
            raise ValueError(f'model.head.decoder.{key} is not set and the encoder '
                             f'{type(backbone).__name__} does not give it: set it in the config')
        sizes[key] = value
    return sizes


@MODELS.register_module()
class LocCa(BaseModel):
    """Location-aware captioner (Wan et al., NeurIPS 2024) and its baselines.

    ``forward(inputs, data_samples, task_batches, mode)`` as any mmengine model:

    - ``mode='loss'``: the encoder runs once on the images; the decoder's
      cross-attention memory is projected once; the Cap / ARef / GCap rows
      (``task_batches``: task -> :class:`TaskBatch`, from the data
      preprocessor) run against it (:class:`LocCaHead`), plus the
      contrastive loss when a :class:`ContrastiveHead` is configured. Returns ``loss_cap``,
      ``loss_aref``, ``loss_gcap`` (and ``loss_con``).
    - ``mode='predict'``: per sample, the task in ``data_sample.task`` or
      ``test_cfg['task']``: ``'cap'`` -> ``pred_caption``; ``'ref'`` (with
      ``prompt_text``) -> ``pred_instances.bboxes`` (xyxy, original image) and
      ``scores``; ``'gcap'`` (with ``prompt_box``) -> ``pred_caption``;
      ``'detect'`` -> boxes with their texts (:meth:`LocCaHead.predict`);
      ``'detect_seq'`` -> every object in one GCap sequence. The scoring tasks
      (:data:`~locca_mm.structures.tasks.SCORE_TASKS`, evaluation while
      pretraining; :meth:`score`): ``'features'`` -> ``pred_features``;
      ``'class_scores'`` (with ``candidates``) -> ``pred_class_scores``,
      ``pred_label``; ``'caption_nll'`` -> ``caption_nll``, ``caption_tokens``.
    - ``mode='tensor'``: the visual tokens [B, N, D].

    Args:
        backbone (dict): encoder config, e.g. :class:`LocCaViT` with ``out_type='tokens'``.
        tokenizer (dict): :class:`LocCaTokenizer` config — the same entry the
            pipeline's ``BuildTaskSequences`` uses.
        head (dict, optional): :class:`LocCaHead` config. The base configs give
            the decoder's ``embed_dims``, ``num_heads`` and ``num_layers``; a
            size left out follows the encoder (:func:`decoder_sizes`: its width
            and heads and half its depth, the CapPa recipe).
        contrastive_head (dict, optional): :class:`ContrastiveHead` (CoCa, CLIP).
        data_preprocessor (dict, optional): :class:`LocCaDataPreprocessor`
            arguments; the token pad id comes from the tokenizer.
        test_cfg (dict, optional): ``task`` (default ``'cap'``), ``num_beams``
            (1), ``max_new_tokens`` (an int, a dict per task, or None: from the
            tokenizer's max lengths), ``length_penalty``; ``class_scores``: how
            ``'class_scores'`` scores candidates, ``'towers'`` (image and text
            embeddings: SigLIP / CLIP zero-shot; the default with a text tower) or
            ``'decoder'`` (caption likelihood); for ``'detect_seq'``
            also ``max_boxes`` (25) and ``classes`` (the allowed texts, e.g.
            the category names; None: free text); for 'cap', 'ref', 'gcap' and
            'vqa' the :class:`~locca_mm.models.decoding.GenerationControls`:
            ``do_sample``, ``temperature``, ``top_k``, ``top_p``, ``seed``
            (or ``generator``), ``repetition_penalty``, ``no_repeat_ngram_size``;
            ``decode_cache`` for them: ``'dynamic'`` (default, the KV cache grows
            per step), ``'static'`` (fixed buffers: one shape per step) or
            ``'compiled'`` (static, each step through ``torch.compile``'s
            ``reduce-overhead``: CUDA graphs on a GPU; see
            :func:`~locca_mm.models.decoding.generate`).
    """

    def __init__(self,
                 backbone: dict,
                 tokenizer: dict,
                 head: Optional[dict] = None,
                 contrastive_head: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        self.tokenizer = build_tokenizer(tokenizer)
        preprocessor = dict(type='locca_mm.LocCaDataPreprocessor')
        preprocessor.update(data_preprocessor or {})
        preprocessor.setdefault('pad_id', self.tokenizer.text_tokenizer.pad_id)
        preprocessor.setdefault('tokenizer_signature', self.tokenizer.signature)
        tasks = set(head.get('tasks', TRAIN_TASKS)) if head is not None else set()
        if contrastive_head is not None:
            tasks.add('cap')
        preprocessor.setdefault('tasks', sorted(tasks))
        if preprocessor.get('static_shapes') or (head or {}).get('static_shapes'):
            preprocessor['static_shapes'] = True  # batches of a few shapes (torch.compile)
            preprocessor.setdefault('max_lengths', dict(self.tokenizer.max_length))
            preprocessor.setdefault('shape_bucket', (head or {}).get('shape_bucket', 16))
        super().__init__(data_preprocessor=preprocessor, init_cfg=init_cfg)
        if head is None and contrastive_head is None:
            raise ValueError('LocCa needs a head, a contrastive_head, or both')
        self.backbone = MODELS.build(backbone)
        width = self.backbone.embed_dims
        self.head = None
        if head is not None:
            decoder = dict(head['decoder'])
            for key, value in decoder_sizes(self.backbone, decoder).items():
                decoder.setdefault(key, value)
            self.head = MODELS.build(
                dict(head, decoder=decoder),
                default_args=dict(tokenizer=self.tokenizer, memory_dims=width))
        self.contrastive_head = None
        if contrastive_head is not None:
            self.contrastive_head = MODELS.build(
                contrastive_head, default_args=dict(tokenizer=self.tokenizer, embed_dims=width))
            if self.head is not None and not self.has_text_tower and \
                    not self.head.decoder.has_text_embedding:
                raise ValueError('CoCa: the captioning decoder needs with_text_cls=True (and '
                                 'unimodal layers) to give the contrastive text embedding')
        self.test_cfg = dict(task='cap', num_beams=1, max_new_tokens=None, length_penalty=0.0)
        self.test_cfg.update(test_cfg or {})
        if self.test_cfg.get('decode_cache', 'dynamic') not in DECODE_CACHES:
            raise ValueError(f"test_cfg['decode_cache'] must be one of {sorted(DECODE_CACHES)}, "
                             f"got {self.test_cfg['decode_cache']!r}")

    @property
    def has_text_tower(self) -> bool:
        """Whether the contrastive head has its own text tower (CLIP, SigLIP); CoCa's text
        embedding comes from the decoder instead."""
        return self.contrastive_head is not None and \
            self.contrastive_head.text_encoder is not None

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """inputs: [B, 3, H, W] -> visual tokens [B, N, D] (the encoder's last output).

        A fully frozen encoder (the REC protocol) runs without autograd.
        """
        if not any(p.requires_grad for p in self.backbone.parameters()):
            with torch.no_grad():
                return self.backbone(inputs)[-1]
        return self.backbone(inputs)[-1]

    def forward(self, inputs: Tensor, data_samples: Optional[List] = None,
                task_batches: Optional[Dict[str, TaskBatch]] = None, mode: str = 'tensor'):
        """mmengine's entry point: ``'loss'``, ``'predict'`` or ``'tensor'`` (class docstring)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples, task_batches)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs)
        raise ValueError(f'Invalid mode "{mode}": expected "loss", "predict" or "tensor"')

    def loss(self, inputs: Tensor, data_samples: Optional[List],
             task_batches: Optional[Dict[str, TaskBatch]]) -> Dict[str, Tensor]:
        """The training losses (see the class docstring)."""
        if not task_batches:
            raise ValueError('no task sequences in the batch: the training pipeline must '
                             'build them (BuildTaskSequences) before PackLocCaInputs')
        if not torch.compiler.is_compiling():  # compiled: the data preprocessor checked
            self.check_tokenizer(data_samples)
        visual = self.extract_feat(inputs)
        losses: Dict[str, Tensor] = {}
        text_features = None
        if self.head is not None:
            memory = self.head.project_memory(visual)
            if self.contrastive_head is not None and not self.has_text_tower:
                # CoCa: the decoder's text embedding
                head_losses, text_features = self.head.loss_and_text_embedding(memory,
                                                                               task_batches)
            else:
                head_losses = self.head.loss(memory, task_batches)
            losses.update(head_losses)
        if self.contrastive_head is not None:
            losses.update(self.contrastive_head.loss(visual, task_batches.get('cap'),
                                                     text_features))
        return losses

    def check_tokenizer(self, data_samples: Optional[List]) -> None:
        """Raise if the pipeline tokenised these samples with another tokenizer than the
        model's (their ``tokenizer_signature`` is not :attr:`LocCaTokenizer.signature`):
        ids of one vocabulary trained as another's are wrong training, not an error."""
        check_signature(data_samples, self.tokenizer.signature)

    @torch.no_grad()
    def predict(self, inputs: Tensor, data_samples: List) -> List:
        """Decode each sample's task, encoding each distinct image of the batch once.

        Samples of the same image (same ``img_path`` and input shape, e.g. the
        several referring expressions of one RefCOCO image) share one encoder
        pass and one projection of the visual memory.
        """
        if not data_samples:
            raise ValueError('predict needs data samples (with metainfo)')
        cfg = self.test_cfg
        groups: Dict[str, List[int]] = {}
        for i, ds in enumerate(data_samples):
            groups.setdefault(ds.get('task') or cfg['task'], []).append(i)
        if self.head is None and not set(groups) <= {'features', 'class_scores'}:
            raise NotImplementedError('a contrastive-only model has no decoder to predict with '
                                      "(it scores 'features' and 'class_scores' only)")
        unique, rows = _same_images(data_samples)
        if len(unique) < len(data_samples):
            inputs = inputs[torch.tensor(unique, device=inputs.device)]
        visual = self.extract_feat(inputs)
        memory = None if self.head is None else self.head.project_memory(visual)
        for task in [t for t in groups if t in SCORE_TASKS]:
            index = groups.pop(task)
            self.score(visual, memory, [data_samples[i] for i in index],
                       [rows[i] for i in index], task)
        for task, index in groups.items():
            mapped = [rows[i] for i in index]
            idx = None if mapped == list(range(len(unique))) else \
                torch.tensor(mapped, device=inputs.device)
            max_new = cfg['max_new_tokens']
            if isinstance(max_new, dict):
                max_new = max_new.get(task)
            self.head.predict(memory.index_select(idx), [data_samples[i] for i in index], task,
                              num_beams=cfg['num_beams'], max_new_tokens=max_new,
                              length_penalty=cfg['length_penalty'], **self._task_cfg(task))
        return data_samples

    @torch.no_grad()
    def score(self, visual: Tensor, memory, data_samples: List, rows: List[int],
              task: str) -> List:
        """A scoring task (:data:`~locca_mm.structures.tasks.SCORE_TASKS`) for ``data_samples``.

        Args:
            visual: the encoder's tokens [B, N, D] of the batch's distinct images.
            memory: the decoder's memory of those images (None without a decoder).
            data_samples: the samples; ``rows``: the image of each.
            task (str): ``'features'``: ``pred_features`` [D], the tokens' mean;
                ``'class_scores'``: ``pred_class_scores`` [C], each ``candidates``
                text as the image's caption scored by the towers' pair logit (with a
                text tower) or its summed Cap log-likelihood (``test_cfg
                ['class_scores']``), and ``pred_label``, the index of the highest;
                ``'caption_nll'``: ``caption_nll``, minus
                the summed log-likelihood of the sample's ``gt_captions`` (every
                reference), and ``caption_tokens``, the number of tokens scored.
        """
        if task == 'features':
            pooled = visual.float().mean(1)
            for ds, r in zip(data_samples, rows):
                ds.pred_features = pooled[r]
                ds.task = task
            return data_samples
        if task == 'class_scores' and self._class_scores_by_towers():
            return self._tower_class_scores(visual, data_samples, rows)
        if memory is None:
            raise NotImplementedError(f'"{task}" scores texts with the decoder: this model '
                                      'has none')
        key = 'candidates' if task == 'class_scores' else 'gt_captions'
        texts, text_rows, owner = [], [], []
        for i, (ds, r) in enumerate(zip(data_samples, rows)):
            given = ds.get(key)
            if not given:
                raise ValueError(f'a "{task}" sample needs data_sample.{key} '
                                 f'({ds.metainfo.get("source", "a sample")})')
            texts += list(given)
            text_rows += [r] * len(given)
            owner += [i] * len(given)
        logp, count = self.head.score_texts(memory, texts, text_rows)
        owner = torch.as_tensor(owner, device=logp.device)
        for i, ds in enumerate(data_samples):
            mine = owner == i
            if task == 'class_scores':
                ds.pred_class_scores = logp[mine]
                ds.pred_label = int(logp[mine].argmax())
            else:
                ds.caption_nll = float(-logp[mine].sum())
                ds.caption_tokens = int(count[mine].sum())
            ds.task = task
        return data_samples

    def _class_scores_by_towers(self) -> bool:
        """Whether ``'class_scores'`` uses the two towers (SigLIP / CLIP zero-shot) rather
        than the decoder's likelihood: ``test_cfg['class_scores']`` = ``'towers'`` or
        ``'decoder'``; by default the towers when the model has a text tower."""
        how = self.test_cfg.get('class_scores', 'towers' if self.has_text_tower else 'decoder')
        if how not in ('towers', 'decoder'):
            raise ValueError(f"test_cfg['class_scores'] must be 'towers' or 'decoder', got "
                             f'{how!r}')
        if how == 'towers' and not self.has_text_tower:
            raise ValueError("test_cfg['class_scores']='towers' needs a contrastive_head "
                             'with a text_encoder')
        return how == 'towers'

    def _tower_class_scores(self, visual: Tensor, data_samples: List,
                            rows: List[int]) -> List:
        """Zero-shot class scores of the two towers: the pair logit of each image's embedding
        and each of its ``candidates`` as a caption (written as the training captions are)."""
        head = self.contrastive_head
        image = head.image_embedding(visual)
        texts: Dict[tuple, Tensor] = {}  # each distinct candidate list is encoded once
        for ds, r in zip(data_samples, rows):
            given = tuple(ds.get('candidates') or ())
            if not given:
                raise ValueError('a "class_scores" sample needs data_sample.candidates '
                                 f'({ds.metainfo.get("source", "a sample")})')
            if given not in texts:
                seqs = [self.tokenizer.build('cap', text=t) for t in given]
                batch = TaskBatch.from_sequences(seqs, list(range(len(seqs))), len(seqs),
                                                 head.text_encoder.pad_id, visual.device)
                texts[given] = head.text_embedding(captions=batch)
            scores = head.logits(image[r:r + 1], texts[given])[0]
            ds.pred_class_scores = scores.float()
            ds.pred_label = int(scores.argmax())
            ds.task = 'class_scores'
        return data_samples

    def _task_cfg(self, task: str) -> dict:
        """The ``test_cfg`` settings of one prediction task beyond the decoding ones
        (``'detect_seq'``: ``max_boxes`` and ``classes``, when the config gives them) and
        the generation controls, when any is set."""
        controls = GenerationControls.from_cfg(self.test_cfg)
        cfg = {} if controls.is_default else dict(controls=controls)
        if self.test_cfg.get('decode_cache', 'dynamic') != 'dynamic':
            cfg['cache'] = self.test_cfg['decode_cache']
        if task == 'detect_seq':
            cfg.update({k: self.test_cfg[k] for k in ('max_boxes', 'classes')
                        if k in self.test_cfg})
        return cfg

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Loads a checkpoint whose decoder holds fewer positions than this model's (a
        pretrained LocCa fine-tuned on longer sequences, e.g. detection): its position
        table fills the first rows, the others keep their initialisation."""
        key = f'{prefix}head.decoder.pos_embed'
        if self.head is not None and key in state_dict:
            given = state_dict[key].shape
            state_dict[key] = extend_table(state_dict[key], self.head.decoder.pos_embed, dim=1)
            if state_dict[key].shape != given:
                print_log(f'the checkpoint\'s decoder has {given[1]} positions, this model '
                          f'{state_dict[key].shape[1]}: the first {given[1]} are loaded, the '
                          'rest keep their initialisation', logger='current')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _same_images(data_samples: List):
    """Distinct images of a batch: (index of each image's first sample, image row of each sample).

    Samples count as the same image when they name the same file with the same
    input shape and flip; samples without ``img_path`` are all distinct.
    """
    first: Dict[tuple, int] = {}
    unique: List[int] = []
    rows: List[int] = []
    for i, ds in enumerate(data_samples):
        meta = ds.metainfo
        key = (meta['img_path'], tuple(meta.get('img_shape', ())), meta.get('flip')) \
            if meta.get('img_path') else ('#', i)
        if key not in first:
            first[key] = len(unique)
            unique.append(i)
        rows.append(first[key])
    return unique, rows
