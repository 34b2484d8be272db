"""Registration of every locca_mm module and the default scope."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every locca_mm module so that it registers itself.

    Args:
        init_default_scope (bool): Also make ``'locca_mm'`` the default scope,
            so that registries build from locca_mm's nodes first (and fall back
            to mmengine's). If another scope is current, a new ``locca_mm``
            scope instance is created and a warning says so. Defaults to True.
    """
    import locca_mm.apis  # noqa: F401
    import locca_mm.datasets  # noqa: F401
    import locca_mm.engine  # noqa: F401
    import locca_mm.evaluation  # noqa: F401
    import locca_mm.models  # noqa: F401
    import locca_mm.visualization  # noqa: F401

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
