"""Shared plumbing of the command-line tools (``tools/train.py``, ``tools/test.py``).

- :func:`load_config` reads a config with a clear error for a missing file and
  merges ``--cfg-options``.
- :class:`SetupGuard` removes what a run wrote into its work dir when the run
  fails before its first training (or test) iteration, i.e. on a bad config,
  an unknown ``type`` or a missing checkpoint, so no half-written work dir is
  left behind. A failure later keeps its logs.
- :func:`run_cli` turns a setup failure into a one-line ``error: ...`` message
  and exit code 1 (``LOCCA_DEBUG=1`` shows the traceback); failures during
  training keep their traceback.
"""
import argparse
import os
import os.path as osp
import shutil
import sys
from typing import Callable, Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.logging import print_log

from locca_mm.compat.log_filters import quiet_dependency_deprecations
from locca_mm.utils.config import SetupError, leaf_datasets


def _source_root() -> str:
    """The directory holding ``configs/`` and ``tools/``: the checkout this package is in
    (symbolic links resolved: ``make install`` links the package into the environment), else
    the package's ``.mim`` (where a wheel carries them)."""
    package = osp.dirname(osp.dirname(osp.realpath(__file__)))
    checkout = osp.dirname(package)
    return checkout if osp.isdir(osp.join(checkout, 'configs')) else osp.join(package, '.mim')


#: Where ``configs/`` and ``tools/`` are (see :func:`_source_root`).
SOURCE_ROOT = _source_root()

__all__ = [
    'SetupError', 'load_config', 'closest_configs', 'SetupGuard', 'run_cli', 'default_work_dir',
    'add_runner_args', 'apply_runner_args', 'build_runner',
    'apply_encoder_from', 'quiet_dependency_deprecations', 'build_phase_dataset',
    'leaf_datasets'
]

def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file, merge ``cfg_options`` and apply ``encoder_from`` / ``model_from``.

    Raises:
        SetupError: the file does not exist or cannot be parsed.
    """
    from locca_mm.compat.runtime_fixes import apply_runtime_fixes
    apply_runtime_fixes()  # the tools' checkpoint loading and saving (see its module)
    if not osp.isfile(path):
        near = closest_configs(path)
        raise SetupError(f'config file not found: {path}' +
                         (f' (closest: {", ".join(near)})' if near else ''))
    try:
        cfg = Config.fromfile(path)
    except Exception as e:  # noqa: BLE001 - any parse error is the user's file
        raise SetupError(f'cannot read config {path}: {_one_line(e)}') from e
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    apply_encoder_from(cfg)
    return cfg


def closest_configs(path: str, num: int = 3) -> list:
    """The existing configs whose paths are closest to a missing ``path`` (difflib ratio):
    those under its ``configs/`` directory, else under this checkout's."""
    import difflib
    import glob
    parts = osp.normpath(path).split(osp.sep)
    if 'configs' in parts:
        root = osp.sep.join(parts[:parts.index('configs') + 1]) or osp.sep
    else:
        root = osp.join(SOURCE_ROOT, 'configs')
    if not osp.isdir(root):
        return []
    found = [p for p in glob.glob(osp.join(root, '**', '*.py'), recursive=True)
             if f'{osp.sep}_base_{osp.sep}' not in p]
    by_name = {osp.relpath(p, osp.dirname(root)): p for p in found}
    want = osp.relpath(osp.abspath(path), osp.dirname(osp.abspath(root)))
    names = difflib.get_close_matches(want, list(by_name), n=num, cutoff=0.4)
    base = osp.basename(path)
    names += [n for n in by_name if osp.basename(n) == base and n not in names]
    prefix = osp.dirname(root)
    return [osp.join(prefix, n) if prefix else n for n in names[:num]]


def apply_encoder_from(cfg: Config) -> Config:
    """``encoder_from = CKPT``: initialise ``model.backbone`` from a checkpoint's encoder.

    Like ``load_from``, but only the encoder: its ``init_cfg`` becomes
    ``Pretrained`` with ``prefix=encoder_prefix`` (default ``'backbone.'``), so
    a LocCa / Cap / CoCa / CLIP checkpoint (or one from
    ``tools/model_converters/extract_encoder.py``) seeds a fresh model — the REC protocol and
    the transfer configs. Missing or mismatched encoder keys are an error.

    ``model_from = CKPT`` does the same and also points a decoder that the
    config starts pretrained (``model.head.init_cfg`` of type ``Pretrained``:
    the fine-tuned REC protocol) at the same checkpoint: the whole pretrained
    model, without ``load_from`` (whose ``--resume`` would read the
    pretraining's optimizer state).
    """
    whole = cfg.get('model_from')
    path = cfg.get('encoder_from') or whole
    if path:
        cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=path,
                                           prefix=cfg.get('encoder_prefix', 'backbone.'))
    head_init = (cfg.model.get('head') or {}).get('init_cfg') if whole else None
    if isinstance(head_init, dict) and head_init.get('type') == 'Pretrained':
        cfg.model.head.init_cfg = dict(head_init, checkpoint=whole)
    return cfg


def build_phase_dataset(cfg: Config, config_path: str, phase: str):
    """The dataset of ``cfg``'s ``<phase>_dataloader`` (in the config's default scope).

    Raises:
        SetupError: the config has no such dataloader, or its dataset cannot be built
            (an unknown type, a missing file), said in one line.
    """
    from mmengine.registry import init_default_scope

    from locca_mm.registry import DATASETS
    from locca_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'locca_mm'))
    loader = cfg.get(f'{phase}_dataloader')
    if not loader:
        raise SetupError(f'{config_path} has no {phase}_dataloader')
    try:
        return DATASETS.build(loader['dataset'])
    except Exception as e:  # noqa: BLE001 - a bad config or missing file, said in one line
        raise SetupError(f'cannot build the {phase} dataset: {_one_line(e)}') from e


def default_work_dir(config_path: str) -> str:
    """``./work_dirs/<config name>``, as in mmdet and mmpretrain."""
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """Options every runner tool shares: work dir, config overrides, launcher."""
    parser.add_argument('--work-dir', help='directory for logs, checkpoints and metrics')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, e.g. train_cfg.max_iters=100')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def apply_runner_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Set launcher and work dir (``--work-dir`` > config > ``./work_dirs/<name>``)."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(args.config)
    return cfg


def compile_as_hook(cfg: Config) -> Config:
    """mmengine's ``compile=True`` (or a dict of ``torch.compile`` options) for a locca_mm
    model, done as :class:`~locca_mm.engine.CompileLossHook` in the static row layout.

    mmengine compiles the whole ``train_step`` (optimizer wrapper included), which stops
    with a Dynamo error on torch 2.14; the hook compiles ``model.loss`` into one graph.
    Other models (mmdet, mmseg, mmpretrain) keep mmengine's compile.
    """
    options = cfg.get('compile')
    model_type = (cfg.get('model') or {}).get('type')
    if not options or model_type is None:
        return cfg
    from locca_mm.models import LocCa
    from locca_mm.registry import MODELS
    cls = MODELS.get(model_type) if isinstance(model_type, str) else model_type
    if not (isinstance(cls, type) and issubclass(cls, LocCa)):
        return cfg
    options = {} if options is True else dict(options)
    cfg.compile = None
    if cfg.model.get('head') is not None:
        cfg.model.head.static_shapes = True
    else:  # towers only (CLIP, SigLIP): bucketed caption lengths, a few shapes
        cfg.model.data_preprocessor = dict(cfg.model.get('data_preprocessor') or {},
                                           static_shapes=True)
    cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type='CompileLossHook', **options)]
    print_log(f'compile: model.loss compiled by CompileLossHook({options}) in the static row '
              'layout (model.head.static_shapes=True)', logger='current')
    return cfg


def build_runner(cfg: Config):
    """``Runner.from_cfg``, or the registered runner named by ``runner_type``.

    The tools' runs get :func:`locca_mm.compat.apply_runtime_fixes` (atomic,
    crash-safe checkpoints; CPU multi-process training).
    """
    from mmengine.runner import Runner

    from locca_mm.compat.runtime_fixes import apply_runtime_fixes
    from locca_mm.registry import RUNNERS
    apply_runtime_fixes()
    compile_as_hook(cfg)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    return quiet_dependency_deprecations(runner)


class _StartedHook(Hook):
    """Marks the first iteration of training or testing."""

    priority = 'VERY_LOW'

    def __init__(self, guard: 'SetupGuard'):
        self.guard = guard

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.guard.started = True

    def before_test_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.guard.started = True

    def before_val_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.guard.started = True


class SetupGuard:
    """Context manager that undoes a work dir's new files if setup fails.

    Args:
        work_dir (str): The run's work dir.

    Use :meth:`watch` on the runner once it exists so the guard learns when
    the first iteration starts; from then on a failure keeps its files.
    """

    def __init__(self, work_dir: str):
        self.work_dir = osp.abspath(work_dir)
        self.existed = osp.isdir(self.work_dir)
        self.before = set(os.listdir(self.work_dir)) if self.existed else set()
        self.started = False

    def watch(self, runner) -> None:
        """Register a hook on ``runner`` that marks the start of the first iteration."""
        runner.register_hook(_StartedHook(self))

    def __enter__(self) -> 'SetupGuard':
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None or self.started or exc_type is KeyboardInterrupt:
            return False
        self.cleanup()
        if not isinstance(exc, SetupError):
            raise SetupError(_one_line(exc)) from exc
        return False

    def cleanup(self) -> None:
        """Remove what appeared in the work dir since the guard was created."""
        if not osp.isdir(self.work_dir):
            return
        if not self.existed:
            shutil.rmtree(self.work_dir, ignore_errors=True)
            return
        for name in set(os.listdir(self.work_dir)) - self.before:
            path = osp.join(self.work_dir, name)
            if osp.isdir(path) and not osp.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.remove(path)
                except OSError:
                    pass


def _one_line(exc: BaseException) -> str:
    """The first line of an exception's message (KeyError without its quotes)."""
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    msg = str(msg).strip().splitlines()[0] if str(msg).strip() else type(exc).__name__
    return msg


def _leave_process_group() -> None:
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def run_cli(main: Callable[[Optional[Sequence[str]]], object],
            argv: Optional[Sequence[str]] = None) -> None:
    """Run a tool's ``main``; a :class:`SetupError` exits 1 with one line on stderr.

    A distributed run ends with every rank leaving the process group together
    (a barrier, then ``destroy_process_group``): a rank that exits with the
    group's communication threads still running can abort at interpreter exit.
    It applies :func:`locca_mm.compat.apply_runtime_fixes` first: every tool
    loads and saves checkpoints through them.
    """
    from locca_mm.compat.runtime_fixes import apply_runtime_fixes
    apply_runtime_fixes()
    try:
        main(argv)
        _leave_process_group()
    except SetupError as e:
        if os.environ.get('LOCCA_DEBUG'):
            raise
        prog = osp.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'locca_mm'
        print(f'{prog}: error: {e}', file=sys.stderr)
        sys.exit(1)
