"""Tiny models and batches for model tests."""
import copy
import os.path as osp

import torch
from mmengine.config import Config

from locca_mm.registry import MODELS
from locca_mm.structures import LocCaDataSample
from tests.conftest import ROOT

TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
IMG = 32
TINY_TOKENIZER = dict(
    type='LocCaTokenizer',
    text_tokenizer=dict(type='ByteTokenizer'),
    box_tokenizer=dict(type='BoxTokenizer', num_bins=16),
    max_length=dict(cap=32, aref=24, gcap=24),
)

CAPTIONS = ['a red circle left of a blue square', 'two green triangles', 'one yellow star',
            'a blue square above a red circle']
REGIONS = [('red circle', [2., 3., 14., 15.]), ('green triangle', [16., 4., 30., 12.]),
           ('yellow star', [5., 18., 20., 30.]), ('blue square', [10., 10., 26., 22.])]


# The pretraining configs, by the short names the tests use.
LOCCA_B = 'locca/locca_vit-b16_256xb32-1100k_webli'
LOCCA_L = 'locca/locca_vit-l16_256xb32-1100k_webli'
CAP_B = 'cap/cap_vit-b16_256xb32-1100k_webli'
CAPPA_B = 'cappa/cappa_vit-b16_256xb32-1100k_webli'
COCA_B = 'coca/coca_vit-b16_256xb32-1100k_webli'
CLIP_B = 'clip/clip_vit-b16_256xb32-1100k_webli'
LOCCA_TINY = 'locca/locca_vit-tiny_1xb48-900it_shapes'
CAP_TINY = 'cap/cap_vit-tiny_1xb48-900it_shapes'


def tiny_model_cfg(config: str = LOCCA_B, **head_overrides) -> dict:
    """The model of ``configs/<config>.py`` shrunk to a 2-layer width-32 encoder on 32 px."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', f'{config}.py')).model.to_dict()
    return shrink_model(cfg, **head_overrides)


def shrink_model(cfg: dict, tokenizer: bool = True, **head_overrides) -> dict:
    """A LocCa model config shrunk to a 2-layer width-32 encoder on 32 px (a copy).

    ``tokenizer``: replace the text tokenizer by the byte-level one (prefixes and
    loss spans kept); False keeps the config's own.
    """
    cfg = copy.deepcopy(cfg)
    if tokenizer:
        keep = {k: cfg['tokenizer'][k] for k in ('prefixes', 'loss_on') if k in cfg['tokenizer']}
        cfg['tokenizer'] = dict(TINY_TOKENIZER, **keep)
    cfg['backbone'].update(arch=TINY_ARCH, img_size=IMG, patch_size=8)
    if cfg['backbone'].get('frozen_stages', -1) > TINY_ARCH['num_layers']:
        cfg['backbone']['frozen_stages'] = TINY_ARCH['num_layers']  # every block, still
    lengths = cfg['tokenizer'].get('max_length', 32)
    max_len = max(32, max(lengths.values()) if isinstance(lengths, dict) else lengths)
    if cfg.get('head'):
        # The tiny encoder's width and heads; a decoder deeper than the tiny encoder gets
        # half its depth (the base configs' recipe), a shallower one keeps its own.
        decoder = cfg['head']['decoder']
        decoder.update(max_len=max_len, embed_dims=TINY_ARCH['embed_dims'],
                       num_heads=TINY_ARCH['num_heads'])
        if decoder.get('num_layers', 0) > TINY_ARCH['num_layers']:
            decoder['num_layers'] = TINY_ARCH['num_layers'] // 2
        if cfg['head']['decoder'].get('num_unimodal_layers'):
            cfg['head']['decoder'].update(num_layers=2, num_unimodal_layers=1)
        if cfg['head'].get('memory_pool'):
            cfg['head']['memory_pool'] = dict(num_queries=8, num_heads=2)
        cfg['head'].update(head_overrides)
    if cfg.get('contrastive_head'):
        cfg['contrastive_head']['num_heads'] = 2
        if cfg['contrastive_head'].get('text_encoder'):
            cfg['contrastive_head']['text_encoder'].update(
                embed_dims=32, num_layers=2, num_heads=2, max_len=max_len)
            cfg['contrastive_head']['text_encoder'].pop('proj_dims', None)
    if cfg.get('stage_two'):  # SigLIP 2's second stage: small heads and crops
        stage = cfg['stage_two']
        for key in ('head', 'patch_head'):
            stage[key] = dict(stage.get(key) or {}, type='SelfDistillationHead',
                              num_prototypes=64, hidden_dims=32, bottleneck_dims=16)
        stage['views'] = dict(stage.get('views') or {}, type='MultiCropViews', global_size=IMG,
                              local_size=16, num_local=2)
    return cfg


def randomize_logits(model, std: float, seed: int = 0):
    """Draw the decoder's zero-initialised logit layer from N(0, std) (seeded), so that
    decoding is not degenerate; returns ``model``."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.head.decoder.logit_layer.parameters():
            p.normal_(std=std)
    return model


def build_tiny(config: str = LOCCA_B, seed: int = 0, **head_overrides):
    torch.manual_seed(seed)
    return MODELS.build(tiny_model_cfg(config, **head_overrides))


def make_samples(tokenizer, n: int = 4, tasks=('cap', 'aref', 'gcap'), size: int = IMG):
    """n data samples with captions and one region each, their task sequences built."""
    samples = []
    for i in range(n):
        ds = LocCaDataSample(metainfo=dict(img_shape=(size, size),
                                           ori_shape=(2 * size, 2 * size),
                                           scale_factor=(0.5, 0.5)))
        text, box = REGIONS[i % len(REGIONS)]
        box = torch.tensor(box)
        seqs = {}
        for task in tasks:
            if task == 'cap':
                seqs[task] = tokenizer.build('cap', text=CAPTIONS[i % len(CAPTIONS)])
            else:
                seqs[task] = tokenizer.build(task, text=text, box=box, img_shape=(size, size))
        ds.task_sequences = seqs
        samples.append(ds)
    return samples


def make_batch(model, n: int = 4, tasks=('cap', 'aref', 'gcap'), seed: int = 0, size: int = IMG):
    """A preprocessed batch (inputs, data_samples, text) for ``model``."""
    g = torch.Generator().manual_seed(seed)
    images = [torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8)
              for _ in range(n)]
    data = dict(inputs=images, data_samples=make_samples(model.tokenizer, n, tasks, size))
    return model.data_preprocessor(data, True)


def predict_samples(task: str, n: int = 3, **fields):
    """n prediction samples of ``task`` (a 32-px input of a 64-px image), ``fields`` set."""
    samples = []
    for _ in range(n):
        ds = LocCaDataSample(metainfo=dict(img_shape=(IMG, IMG), ori_shape=(64, 64),
                                           scale_factor=(0.5, 0.5)))
        ds.task = task
        for k, v in fields.items():
            setattr(ds, k, v)
        samples.append(ds)
    return samples
