"""The ground floor: module registration (through the registries' locations), config
helpers, encoder checkpoints, precision. Imports no other layer but the registry."""
from .setup_env import register_all_modules

__all__ = ['register_all_modules']
