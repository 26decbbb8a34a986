"""Settings loader and schema, the shipped example config, and stock layouts.

This layer imports no other printstation layer but the leaf `base`.
"""

from .loader import Config, ConfigError, Problem, find_config, load_config, load_settings
from .settings import PrinterSettings, Settings
from .stocks import FieldSpec, FormSpec, ItemsSpec, Stock, load_stocks

__all__ = [
    "Config",
    "ConfigError",
    "FieldSpec",
    "FormSpec",
    "ItemsSpec",
    "PrinterSettings",
    "Problem",
    "Settings",
    "Stock",
    "find_config",
    "load_config",
    "load_settings",
    "load_stocks",
]
