"""Registration of every locca_mm module and the default scope."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every locca_mm module so that it registers itself.

    Each registry imports the subpackages its ``locations`` name
    (:mod:`locca_mm.registry`): the one table of where modules live, so that this
    ground-floor function names no upper layer.

    Args:
        init_default_scope (bool): Also make ``'locca_mm'`` the default scope,
            so that registries build from locca_mm's nodes first (and fall back
            to mmengine's). If another scope is current, a new ``locca_mm``
            scope instance is created and a warning says so. Defaults to True.
    """
    from locca_mm import registry
    for name in registry.__all__:
        getattr(registry, name).import_from_location()

    if not init_default_scope:
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope is None:
        DefaultScope.get_instance('locca_mm', scope_name='locca_mm')
    elif current_scope.scope_name != 'locca_mm':
        warnings.warn(
            f'The current default scope "{current_scope.scope_name}" is not '
            '"locca_mm"; register_all_modules makes "locca_mm" current. Pass '
            'init_default_scope=False to keep the current scope.', stacklevel=2)
        DefaultScope.get_instance(
            f'locca_mm-{datetime.datetime.now()}', scope_name='locca_mm')
