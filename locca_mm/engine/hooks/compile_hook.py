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
        model.loss = torch.compile(model.loss, **self.options)
        print_log(f'CompileLossHook: model.loss compiled ({self.options}); the first steps '
                  'of each batch shape compile', logger='current')
