"""The MicroExp model zoo: named entries, where their weights resolve, and an offline builder.

``from zoo import ENTRIES, resolve, load``; ``python -m zoo list`` / ``build`` / ``publish``.
"""

from .pins import HubSource, Pins, hub_source, read_pins
from .registry import DEFAULT_ENTRY, ENTRIES, ZooEntry, get_entry
from .resolve import ResolvedModel, available, clear_cache, load, resolve, zoo_dir

__all__ = ["DEFAULT_ENTRY", "ENTRIES", "HubSource", "Pins", "ResolvedModel", "ZooEntry", "available", "clear_cache",
           "get_entry", "hub_source", "load", "read_pins", "resolve", "zoo_dir"]
