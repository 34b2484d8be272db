"""CompileLossHook: ``torch.compile`` of the model's loss computation, in one graph."""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from locca_mm.registry import HOOKS


@HOOKS.register_module()
class CompileLossHook(Hook):
    """Compile the model's ``loss`` (encoder, decoder, losses; its backward follows).

    mmengine's own ``compile=True`` compiles the whole ``train_step``: the data
    preprocessor's Python, the optimizer wrapper and the optimizer step with it,
    which Dynamo splits into many graphs (and, with torch 2.14 and mmengine's
    ``OptimWrapper``, fails on AdamW's parameter groups). This hook compiles
    only the tensor program: ``model.loss`` of the unwrapped model, which with
    ``model.head.static_shapes=True`` traces into one graph (``fullgraph``, no
    graph break), one per batch shape. The preprocessor, ``backward``
    (AOTAutograd's compiled backward) and the optimizer run as before; DDP's
    gradient hooks and gradient clipping are untouched.

    Use it from a config::

        model = dict(head=dict(static_shapes=True))
        custom_hooks = [dict(type='CompileLossHook')]

    Under FSDP2 (the ``-fsdp-`` configs) each sharded block's gather and release run
    outside Dynamo, so the graph breaks at every block: the hook then compiles with
    ``fullgraph=False`` and says so (tested on one CPU process: the losses of the
    uncompiled sharded model).

    Args:
        fullgraph (bool): fail on a graph break instead of splitting. Defaults to True.
        dynamic (bool, optional): ``torch.compile``'s ``dynamic``. Defaults to False
            (static shapes: the static layout gives one shape per batch size).
        mode (str, optional): ``torch.compile``'s mode, e.g. ``'max-autotune'``.
        backend (str): ``torch.compile``'s backend. Defaults to ``'inductor'``.
        **options: other ``torch.compile`` arguments (e.g. ``options=dict(...)``).

    The tools turn mmengine's ``compile=True`` (or ``compile=dict(...)``) of a locca_mm
    model into this hook (:func:`locca_mm.cli.common.compile_as_hook`).
    """

    priority = 'VERY_HIGH'

    def __init__(self, fullgraph: bool = True, dynamic: Optional[bool] = False,
                 mode: Optional[str] = None, backend: str = 'inductor', **options):
        self.options = dict(fullgraph=fullgraph, dynamic=dynamic, mode=mode, backend=backend,
                            **options)

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = getattr(model, 'head', None)
        if head is not None and not getattr(head, 'static_shapes', True):
            raise ValueError('CompileLossHook needs the static training layout: set '
                             'model.head.static_shapes=True (the default, dynamic layout reads '
                             'the parallel draw back to the host: graph breaks, recompiles)')
        options = dict(self.options)
        if options['fullgraph'] and _is_fsdp2(model):
            options['fullgraph'] = False
            print_log('CompileLossHook: FSDP2 gathers each sharded block outside the graph: '
                      'compiling with fullgraph=False (a graph per block)', logger='current')
        model.loss = torch.compile(model.loss, **options)
        print_log(f'CompileLossHook: model.loss compiled ({options}); the first steps '
                  'of each batch shape compile', logger='current')


def _is_fsdp2(model) -> bool:
    """Whether ``model`` or one of its modules is sharded by FSDP2 (``fully_shard``)."""
    from torch.distributed.fsdp import FSDPModule
    return any(isinstance(m, FSDPModule) for m in model.modules())
