"""SigLIP2: SigLIP's towers with LocCa's decoder, then self-distillation and masked prediction."""
import copy
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from torch import Tensor

from locca_mm.registry import MODELS
from locca_mm.structures import TaskBatch

from .locca import LocCa
from .losses import (
    distillation_loss,
    masked_prediction_loss,
    random_token_mask,
    teacher_targets,
    update_center,
)

#: Stage two's settings and their defaults (SigLIP 2, Tschannen et al. 2025, Sec. 2.3; the
#: values the paper leaves to SILC / TIPS follow DINO and iBOT: docs/en/user_guides/siglip2.md).
STAGE_TWO_DEFAULTS = dict(
    views=dict(type='MultiCropViews', num_local=8, local_size=96),
    head=dict(type='SelfDistillationHead', num_prototypes=65536, hidden_dims=2048,
              bottleneck_dims=256),
    patch_head=dict(type='SelfDistillationHead', num_prototypes=8192, hidden_dims=2048,
                    bottleneck_dims=256),
    distill_weight=1.0,
    masked_weight=0.25,
    size_factor=0.25,
    mask_ratio=0.5,
    student_temp=0.1,
    teacher_temp=0.04,
    center_momentum=0.9,
)


@MODELS.register_module()
class SigLIP2(LocCa):
    """SigLIP 2's training recipe (Tschannen et al., 2025) around LocCa's decoder.

    **Stage one** (the whole run): SigLIP's sigmoid image-text loss between the MAP-pooled
    image embedding and a text tower (:class:`ContrastiveHead` with ``loss_type='sigmoid'``
    and a ``text_encoder``), plus LocCa's Cap / ARef / GCap losses of a decoder that
    cross-attends to the un-pooled tokens (``head``: :class:`LocCaHead`), with equal weight;
    both on the unaugmented image. ``head=None`` is SigLIP alone; ``stage_two=None`` stops at
    stage one.

    **Stage two** (switched on by :class:`~locca_mm.engine.hooks.SigLIP2StageHook`, at 80 %
    of training in the paper): an EMA teacher of the image encoder, its pooler and the
    stage-two heads (``teacher``), started from the student, adds

    - ``loss_distill``: SILC's local-to-global consistency. The student's pooled embedding
      of each of ``num_local`` local crops, through ``head``, matches the teacher's of one
      global crop (centred, sharpened: :func:`teacher_targets`, :func:`distillation_loss`);
    - ``loss_masked``: TIPS' masked prediction. The student sees the same global crop with
      ``mask_ratio`` of its embedded patches replaced by a learned mask token; its tokens at
      the masked patches, through ``patch_head``, match the teacher's tokens of the
      unmasked crop (:func:`masked_prediction_loss`).

    weighted ``distill_weight * size_factor`` and ``masked_weight * size_factor`` (the paper:
    1 and 0.25, times 0.25 / 0.5 / 1.0 / 0.5 for B / L / So400m / g). Before the switch the
    stage-two parameters exist but get no gradient (an optimizer skips them), which is the
    paper's "added at 80 % with randomly initialised heads".

    The switch and the teacher are model state: ``stage_two_active`` (a buffer) and
    ``teacher.*`` are in every checkpoint, so a run resumed on either side of the switch
    continues exactly. Exported encoders (``backbone.*``) are the student's.

    Args:
        backbone, tokenizer, head, data_preprocessor, test_cfg, init_cfg: as :class:`LocCa`.
        contrastive_head (dict): the SigLIP towers (required).
        stage_two (dict, optional): :data:`STAGE_TWO_DEFAULTS` keys to change (``views``:
            :class:`MultiCropViews`; ``head`` / ``patch_head``: :class:`SelfDistillationHead`;
            weights, ``mask_ratio``, temperatures, ``center_momentum``). None: no stage two.
    """

    def __init__(self,
                 backbone: dict,
                 tokenizer: dict,
                 contrastive_head: dict,
                 head: Optional[dict] = None,
                 stage_two: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if contrastive_head is None:
            raise ValueError('SigLIP2 needs the SigLIP towers: a contrastive_head')
        super().__init__(backbone, tokenizer, head=head, contrastive_head=contrastive_head,
                         data_preprocessor=data_preprocessor, test_cfg=test_cfg,
                         init_cfg=init_cfg)
        self.stage_two_cfg = None
        self._stage_two_on = False
        self.register_buffer('stage_two_active', torch.zeros((), dtype=torch.bool))
        if stage_two is None:
            return
        cfg = dict(STAGE_TWO_DEFAULTS)
        unknown = set(stage_two) - set(cfg)
        if unknown:
            raise ValueError(f'unknown stage_two keys {sorted(unknown)}; known: {sorted(cfg)}')
        cfg.update(stage_two)
        self.stage_two_cfg = cfg
        width = self.backbone.embed_dims
        self.views = MODELS.build(cfg['views'])
        self.distill_head = MODELS.build(cfg['head'], default_args=dict(in_dims=width))
        self.patch_head = MODELS.build(cfg['patch_head'], default_args=dict(in_dims=width))
        self.mask_token = nn.Parameter(torch.zeros(width))
        nn.init.normal_(self.mask_token, std=0.02)
        pool = self.contrastive_head.image_pool
        self.teacher = nn.ModuleDict(dict(
            backbone=copy.deepcopy(self.backbone),
            pool=copy.deepcopy(pool) if pool is not None else nn.Identity(),
            head=copy.deepcopy(self.distill_head),
            patch_head=copy.deepcopy(self.patch_head)))
        self.teacher.requires_grad_(False)
        self.register_buffer('center', torch.zeros(1, cfg['head']['num_prototypes']))
        self.register_buffer('patch_center',
                             torch.zeros(1, cfg['patch_head']['num_prototypes']))

    # ------------------------------------------------------------------ stage two state
    @property
    def stage_two_on(self) -> bool:
        """Whether the stage-two losses are on (a Python mirror of ``stage_two_active``: no
        device sync in the training step)."""
        return self._stage_two_on

    def _student_parts(self) -> Dict[str, nn.Module]:
        pool = self.contrastive_head.image_pool
        return dict(backbone=self.backbone, pool=pool if pool is not None else nn.Identity(),
                    head=self.distill_head, patch_head=self.patch_head)

    @torch.no_grad()
    def start_stage_two(self) -> None:
        """Switch stage two on: the teacher becomes a copy of the student (encoder, pooler,
        stage-two heads) and the centres are reset."""
        if self.stage_two_cfg is None:
            raise RuntimeError('this SigLIP2 has no stage two (stage_two=None)')
        for name, student in self._student_parts().items():
            teacher = self.teacher[name]
            for t, s in zip(teacher.parameters(), student.parameters()):
                t.copy_(s.detach())
            for t, s in zip(teacher.buffers(), student.buffers()):
                t.copy_(s)
        self.center.zero_()
        self.patch_center.zero_()
        self.stage_two_active.fill_(True)
        self._stage_two_on = True

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """EMA step: ``teacher <- momentum * teacher + (1 - momentum) * student``."""
        if not self._stage_two_on:
            return
        for name, student in self._student_parts().items():
            for t, s in zip(self.teacher[name].parameters(), student.parameters()):
                t.lerp_(s.detach(), 1.0 - momentum)

    def train(self, mode: bool = True) -> 'SigLIP2':
        """``nn.Module.train``; the teacher always runs in eval mode (no dropout)."""
        super().train(mode)
        if getattr(self, 'teacher', None) is not None:
            self.teacher.eval()
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        key = f'{prefix}stage_two_active'
        if key in state_dict:
            self._stage_two_on = bool(state_dict[key])

    # ------------------------------------------------------------------ losses
    def loss(self, inputs: Tensor, data_samples: Optional[List],
             task_batches: Optional[Dict[str, TaskBatch]]) -> Dict[str, Tensor]:
        """Stage one's losses (:meth:`LocCa.loss`: ``loss_con`` and the decoder's), then,
        when stage two is on, ``loss_distill`` and ``loss_masked``."""
        losses = super().loss(inputs, data_samples, task_batches)
        if self._stage_two_on:
            losses.update(self.stage_two_losses(inputs))
        return losses

    def stage_two_losses(self, inputs: Tensor) -> Dict[str, Tensor]:
        """``loss_distill`` and ``loss_masked`` of a normalised batch ``inputs`` [B, 3, H, W]."""
        cfg = self.stage_two_cfg
        dp = self.data_preprocessor
        views = self.views(inputs, dp.mean, dp.std)
        b = inputs.shape[0]
        with torch.no_grad():
            t_tokens = self.teacher['backbone'](views.global_view)[-1]
            t_global = self.teacher['head'](self._pool(self.teacher['pool'], t_tokens))
            t_patch = self.teacher['patch_head'](t_tokens)
            global_targets = teacher_targets(t_global, self.center, cfg['teacher_temp'])
            patch_targets = teacher_targets(t_patch, self.patch_center, cfg['teacher_temp'])
        s_local = self.backbone(views.local_views)[-1]
        s_global = self.distill_head(self._pool(self.contrastive_head.image_pool, s_local))
        loss_distill = distillation_loss(s_global.view(-1, b, s_global.shape[-1]),
                                         global_targets, cfg['student_temp'])
        n = t_tokens.shape[1]
        mask = random_token_mask(b, n, cfg['mask_ratio'], device=inputs.device)
        s_masked = self.backbone(views.global_view, token_mask=mask,
                                 mask_token=self.mask_token)[-1]
        s_patch = self.patch_head(s_masked)
        loss_masked = masked_prediction_loss(s_patch, patch_targets, mask, cfg['student_temp'])
        update_center(self.center, t_global, cfg['center_momentum'])
        update_center(self.patch_center, t_patch, cfg['center_momentum'])
        scale = cfg['size_factor']
        return dict(loss_distill=cfg['distill_weight'] * scale * loss_distill,
                    loss_masked=cfg['masked_weight'] * scale * loss_masked)

    @staticmethod
    def _pool(pool: Optional[nn.Module], tokens: Tensor) -> Tensor:
        """The pooled image representation [B, D]: the MAP pooler's output (before the SigLIP
        projection), or the tokens' mean for a GAP head (no pooler: None, or the teacher's
        ``nn.Identity`` stand-in)."""
        if pool is None or isinstance(pool, nn.Identity):
            return tokens.mean(1)
        return pool(tokens)[:, 0]
