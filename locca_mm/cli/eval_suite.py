"""The evaluation suite's parts: which configs each protocol runs, how a protocol config is
prepared for one pretrained checkpoint, and the results table every run merges its row into.

``tools/eval_suite.py`` runs them; this module holds what does not need a runner:

- :data:`EMBEDDED_SUITES` / :data:`REAL_SUITES` and :func:`suite_configs`: suite name ->
  protocol configs (SyntheticShapes equivalents; the real-data configs).
- :func:`embedded_config`: a protocol config for one checkpoint and seed (frozen encoder
  from ``encoder_from``; training data and randomness reseeded, test sets fixed).
- :func:`init_option`, :func:`missing_data`: how a real-data config takes the checkpoint,
  and the first data path it needs that is absent.
- :func:`run_real_config`: one real-data protocol through ``tools/train.py`` and
  ``tools/test.py`` (one process each), or why it did not run.
- :func:`default_name`, :func:`option_dict`: a row's name from the checkpoint path, and the
  ``--cfg-options`` as a dict.
- :class:`ResultsTable`: rows = checkpoints, columns = ``suite/metric``; merged into
  ``results.json`` (a lock and an atomic write: runs in parallel keep each other's rows) and
  rendered as ``results.md``.
"""
import datetime
import glob
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
from typing import Dict, Iterator, List, Optional, Sequence

from .common import SOURCE_ROOT as ROOT

CONFIGS = osp.join(ROOT, 'configs')
TOOLS = osp.join(ROOT, 'tools')  # train.py and test.py run the real-data protocols

#: Suite -> (protocol config, training iterations (None: the config's), the metric its
#: table column shows). ``rec`` is the paper's protocol (the plain decoder, the config's 600
#: iterations, as the demo); ``rec-aided`` the demo's aided decoder, run when asked.
EMBEDDED_SUITES = {
    'rec': ('shapes/rec_tiny_shapes.py', None, 'refcoco/Acc@0.5'),
    'caption': ('shapes/caption-frozen_tiny_shapes.py', None, 'caption/CIDEr'),
    'cls': ('shapes/cls-frozen_tiny_shapes.py', None, 'cls/accuracy'),
    'rec-aided': ('shapes/rec-aided_tiny_shapes.py', None, 'refcoco/Acc@0.5'),
}
#: The embedded suites run when none is named.
EMBEDDED_DEFAULT = ('rec', 'caption', 'cls')
#: Suite -> (config paths or globs under configs/, the metrics its columns show: by the last
#: part of their name) of the real-data protocols.
REAL_SUITES = {
    'rec': (['refcoco/rec-frozen_locca-vit-b_refcoco.py',
             'refcoco/rec-frozen_locca-vit-b_refcocop.py',
             'refcoco/rec-frozen_locca-vit-b_refcocog.py'], ('Acc@0.5', )),
    'rec-finetune': ([f'refcoco/rec-finetune_locca-vit-b_{name}.py' for name in
                      ('refcoco', 'refcocop', 'refcocog', 'refcoco-union')], ('Acc@0.5', )),
    'holistic': (['holistic/*.py'], ('accuracy', 'CIDEr', 'vqa_acc', 'vqa-acc', 'acc')),
    'ade20k': (['mmseg/linear-finetune_locca-vit-b_ade20k-512x512.py',
                'mmseg/linear-frozen_locca-vit-b_ade20k-512x512.py'], ('mIoU', )),
    'detection': (['coco_detection/gcap-detect-seq-finetune_locca-vit-b_coco.py'],
                  ('bbox_mAP', )),
}
#: Dataset config keys that name a file the data needs (besides ``data_root`` and the
#: folders of ``data_prefix``).
FILE_KEYS = ('ann_file', 'instances_file', 'split_file')

__all__ = [
    'EMBEDDED_SUITES', 'EMBEDDED_DEFAULT', 'REAL_SUITES', 'suite_configs', 'parse_suites',
    'embedded_config', 'init_option', 'missing_data', 'headline', 'spread', 'config_tag',
    'default_name', 'option_dict', 'run_real_config', 'ResultsTable'
]


def parse_suites(text: str, data: str) -> List[str]:
    """``'rec,caption'`` -> the suite names, checked against ``data``'s suites."""
    known = EMBEDDED_SUITES if data == 'embedded' else REAL_SUITES
    default = EMBEDDED_DEFAULT if data == 'embedded' else known
    names = [s.strip() for s in text.split(',') if s.strip()] if text else list(default)
    unknown = [s for s in names if s not in known]
    if unknown or not names:
        raise ValueError(f'unknown suite(s) {unknown} for --data {data}; choose from '
                         f'{", ".join(known)}')
    return list(dict.fromkeys(names))


def suite_configs(suite: str, data: str) -> List[str]:
    """The absolute config paths of a suite; a glob that matches nothing (its configs are not
    there) is returned as is, so that the table says which config is missing."""
    if data == 'embedded':
        return [osp.join(CONFIGS, EMBEDDED_SUITES[suite][0])]
    paths = []
    for pattern in REAL_SUITES[suite][0]:
        found = sorted(glob.glob(osp.join(CONFIGS, pattern)))
        found = [p for p in found if not osp.basename(p).startswith('_')]
        paths += found or [osp.join(CONFIGS, pattern)]
    return paths


def config_tag(path: str) -> str:
    """A real-data config's column name: its file name without the model part,
    ``rec-frozen_locca-vit-b_refcoco.py`` -> ``rec-frozen_refcoco``."""
    stem = osp.splitext(osp.basename(path))[0]
    return '_'.join(p for p in stem.split('_') if 'vit' not in p) or stem


def embedded_config(path: str, checkpoint: str, work_dir: str, seed: int,
                    iters: Optional[int] = None, quick: bool = False,
                    options: Optional[dict] = None):
    """An embedded protocol config for one checkpoint and seed.

    The encoder comes from ``checkpoint`` (``encoder_from``, frozen by the config);
    ``randomness.seed`` and the training set's ``seed`` are offset by ``seed`` (its held-out
    base seed plus ``seed``, so no run trains on pretraining images); validation and test sets
    stay as the config has them. ``iters`` shortens or lengthens training (warm-up kept at
    most half of it); ``quick`` trains 4 iterations on batches of 8 and tests 16 samples.
    ``options`` (``--cfg-options``) are merged last.
    """
    from locca_mm.cli import apply_encoder_from, leaf_datasets, load_config
    cfg = load_config(path, options)  # (a tokenizer they change reaches the datasets too)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    for dataset in leaf_datasets(cfg.train_dataloader.dataset):
        dataset['seed'] = dataset.get('seed', 0) + seed
    iters = 4 if quick else iters
    if iters:
        cfg.train_cfg.max_iters = iters
        warmup = min(cfg.param_scheduler[0]['end'], max(iters // 2, 1))
        cfg.param_scheduler[0]['end'] = cfg.param_scheduler[1]['begin'] = warmup
    if quick:
        cfg.train_dataloader.batch_size = 8
        for phase in ('val', 'test'):
            for dataset in leaf_datasets((cfg.get(f'{phase}_dataloader') or {}).get('dataset')):
                dataset['num_samples'] = min(dataset.get('num_samples', 16), 16)
    cfg.merge_from_dict(dict(options or {}, encoder_from=checkpoint))
    return apply_encoder_from(cfg)


def init_option(cfg) -> str:
    """How a real-data config takes the checkpoint: ``model_from`` where the config starts its
    decoder pretrained too (``model.head.init_cfg`` ``Pretrained``: the fine-tuned REC
    protocol), ``load_from`` for another fine-tuned LocCa model (the whole model, e.g. the
    detection fine-tuning), ``encoder_from`` otherwise (the encoder alone; a frozen
    protocol's decoder, a segmentation head start fresh)."""
    model = cfg.get('model') or {}
    head_init = (model.get('head') or {}).get('init_cfg')
    if isinstance(head_init, dict) and head_init.get('type') == 'Pretrained':
        return 'model_from'
    frozen = (model.get('backbone') or {}).get('frozen_stages', 0) not in (0, -1, None)
    is_locca = str(model.get('type', '')).split('.')[-1] == 'LocCa'
    return 'load_from' if is_locca and not frozen else 'encoder_from'


def _data_paths(dataset: dict) -> Iterator[str]:
    """The files and folders a dataset config names (relative ones under its data root),
    its own and those of the dataset configs it wraps (a ``reader=dict(...)``)."""
    for value in dataset.values():
        if isinstance(value, dict) and 'type' in value:
            yield from _data_paths(value)
    root = dataset.get('data_root') or ''
    if root:
        yield root
    for key in FILE_KEYS:
        value = dataset.get(key)
        if isinstance(value, str) and value:
            yield osp.join(root, value)
    prefix = dataset.get('data_prefix')
    values = prefix.values() if isinstance(prefix, dict) else [prefix]
    for value in values:
        if isinstance(value, str) and value and '://' not in value:
            yield osp.join(root, value)


def missing_data(cfg, base_dir: str = '.') -> Optional[str]:
    """The first data file or folder a config's datasets need that does not exist (relative
    paths under ``base_dir``, the directory the run starts in), or None."""
    from locca_mm.cli import leaf_datasets
    for phase in ('train', 'val', 'test'):
        loader = cfg.get(f'{phase}_dataloader')
        if not isinstance(loader, dict):
            continue
        for dataset in leaf_datasets(loader.get('dataset')):
            for path in _data_paths(dataset):
                if '{' in path or '://' in path:
                    continue
                if not osp.exists(osp.join(base_dir, osp.expanduser(path))):
                    return path
    return None


def default_name(checkpoint: str) -> str:
    """``work_dirs/demo/seed_0/locca/pretrain/iter_900.pth`` -> ``locca/pretrain/iter_900``."""
    parts = osp.normpath(osp.splitext(checkpoint)[0]).split(os.sep)
    return '/'.join(p for p in parts[-3:] if p not in ('', '.', '..'))


def option_dict(options) -> dict:
    """``['a.b=1', 'c=[1,2]']`` -> a dict, as mmengine's ``DictAction`` parses them."""
    import argparse

    from mmengine.config import DictAction

    from .common import SetupError
    bad = [kv for kv in options if '=' not in kv]
    if bad:
        raise SetupError(f'--cfg-options needs KEY=VALUE, got {bad[0]!r}')
    if not options:
        return {}
    parser = argparse.ArgumentParser()
    parser.add_argument('--options', nargs='+', action=DictAction)
    return parser.parse_args(['--options', *options]).options


def run_real_config(path: str, args, run=subprocess.run):
    """One real-data config: ``({metric: value} or {'note': why not}, its JSON record)``.

    ``args``: ``checkpoint``, ``cfg_options`` (``KEY=VALUE`` strings) and ``work_dir``;
    ``run`` runs the ``tools/train.py`` and ``tools/test.py`` commands.
    """
    from .common import SetupError, load_config
    rel = osp.relpath(path, ROOT)
    if not osp.isfile(path):
        return dict(note=f'missing config: {rel}'), dict(config=rel)
    try:
        cfg = load_config(path, option_dict(args.cfg_options))
    except SetupError as e:
        return dict(note=f'failed: {e}'), dict(config=rel)
    gap = missing_data(cfg)
    if gap:
        return dict(note=f'missing data: {gap}'), dict(config=rel)
    work = osp.join(args.work_dir, config_tag(path))
    os.makedirs(work, exist_ok=True)
    init = f'{init_option(cfg)}={args.checkpoint}'
    train_cmd = [sys.executable, osp.join(TOOLS, 'train.py'), path, '--work-dir', work,
                 '--cfg-options', init, *args.cfg_options]
    record = dict(config=rel, init=init.split('=')[0], work_dir=work)
    if not _run_logged(run, train_cmd, osp.join(work, 'eval_suite_train.log')):
        return dict(note=f'failed: train ({work}/eval_suite_train.log)'), record
    with open(osp.join(work, 'last_checkpoint'), encoding='utf-8') as f:
        trained = f.read().strip()
    out = osp.join(work, 'test_metrics.json')
    test_cmd = [sys.executable, osp.join(TOOLS, 'test.py'), path, trained, '--work-dir', work,
                '--out-metrics', out] + (['--cfg-options', *args.cfg_options]
                                         if args.cfg_options else [])
    if not _run_logged(run, test_cmd, osp.join(work, 'eval_suite_test.log')):
        return dict(note=f'failed: test ({work}/eval_suite_test.log)'), record
    with open(out, encoding='utf-8') as f:
        metrics = {k: v for k, v in json.loads(f.read()).items() if isinstance(v, (int, float))}
    record['metrics'] = metrics
    return metrics, record


def _run_logged(run, cmd, log_path: str) -> bool:
    print(f'$ {" ".join(cmd)}  > {log_path}', flush=True)
    with open(log_path, 'w', encoding='utf-8') as log:
        proc = run(cmd, cwd=os.getcwd(), stdout=log, stderr=subprocess.STDOUT)
    return proc.returncode == 0


def headline(metrics: Dict[str, float], names: Sequence[str]) -> Dict[str, float]:
    """The metrics a table shows: those whose name ends in one of ``names``, keyed without
    the evaluator's prefix (``refcoco/Acc@0.5`` -> ``Acc@0.5``, ``refcoco/val/Acc@0.5`` ->
    ``val/Acc@0.5``); every numeric one when none does."""
    numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))
               and k.split('/')[-1] not in ('time', 'data_time')}
    shown = {k: v for k, v in numeric.items() if k.split('/')[-1] in names} or numeric
    return {k.split('/', 1)[-1]: v for k, v in shown.items()}


def spread(values: Sequence[float]) -> dict:
    """``mean``, ``std`` (sample standard deviation; 0 for one value) and the ``values``."""
    values = [float(v) for v in values]
    return dict(mean=statistics.fmean(values),
                std=statistics.stdev(values) if len(values) > 1 else 0.0, values=values)


def _cell_text(cell: Optional[dict]) -> str:
    if cell is None:
        return ''
    if 'note' in cell:
        return str(cell['note']).replace('|', '\\|')
    if len(cell.get('values', [])) > 1:
        return f'{cell["mean"]:.1f} ± {cell["std"]:.1f}'
    return f'{cell["mean"]:.1f}'


class ResultsTable:
    """``DIR/results.json`` and ``DIR/results.md``: one row per checkpoint (its name), one
    column per ``suite/metric``. :meth:`merge` replaces or adds a row and keeps the others.

    A cell is ``{'mean', 'std', 'values'}`` (over seeds) or ``{'note': 'missing data: ...'}``.
    """

    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.json_path = osp.join(out_dir, 'results.json')
        self.md_path = osp.join(out_dir, 'results.md')

    def load(self) -> dict:
        """The stored table (``{'rows': {name: row}}``); empty when there is none."""
        if not osp.isfile(self.json_path):
            return dict(rows={})
        with open(self.json_path, encoding='utf-8') as f:
            try:
                table = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f'{self.json_path} is not a results table: {e}') from e
        if not isinstance(table.get('rows'), dict):
            raise ValueError(f'{self.json_path} is not a results table (no "rows" object)')
        return table

    def merge(self, name: str, row: dict) -> dict:
        """Put ``row`` under ``name`` (other rows kept), write both files; the whole table."""
        import fcntl
        os.makedirs(self.out_dir, exist_ok=True)
        with open(osp.join(self.out_dir, '.results.lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            table = self.load()
            table['rows'][name] = dict(row, updated=datetime.datetime.now(
                datetime.timezone.utc).isoformat(timespec='seconds'))
            table['columns'] = self.columns(table['rows'])
            self._write(self.json_path, json.dumps(table, indent=1))
            self._write(self.md_path, self.markdown(table))
        return table

    @staticmethod
    def _write(path: str, text: str) -> None:
        tmp = f'{path}.tmp{os.getpid()}'
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text + '\n')
        os.replace(tmp, path)

    @staticmethod
    def columns(rows: Dict[str, dict]) -> List[str]:
        """Every row's columns, in the order they first appear."""
        return list(dict.fromkeys(c for row in rows.values() for c in row.get('cells', {})))

    @classmethod
    def markdown(cls, table: dict) -> str:
        """The table in Markdown: a header, one line per checkpoint, then what each row is."""
        rows, columns = table['rows'], cls.columns(table['rows'])
        lines = ['| checkpoint | ' + ' | '.join(columns) + ' |',
                 '|---|' + '---:|' * len(columns)]
        for name, row in rows.items():
            cells = row.get('cells', {})
            lines.append(f'| {name} | ' + ' | '.join(_cell_text(cells.get(c)) for c in columns)
                         + ' |')
        lines.append('')
        for name, row in rows.items():
            seeds = row.get('seeds') or []
            runs = f'seeds {", ".join(map(str, seeds))}' if seeds else 'one run'
            lines.append(f'- {name}: `{row.get("checkpoint")}`, {row.get("data")} data, {runs}'
                         f'{" (mean ± std)" if len(seeds) > 1 else ""}'
                         f'{", quick" if row.get("quick") else ""}, '
                         f'{row.get("seconds", 0):.0f} s, {row.get("updated", "")}')
        return '\n'.join(lines)
