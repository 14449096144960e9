"""Request logging and correlation: JSON lines carrying the request id.

``JsonFormatter`` and ``RequestIdFilter`` are plain ``logging`` parts usable
from any ``LOGGING`` config; ``json_logging()`` builds one.  The request line
itself is written by :class:`opskit.logs.extension.RequestLogExtension`,
which the core middleware runs (imported lazily, not from here).
"""

from __future__ import annotations

from ..capability import Capability
from .config import json_logging, merge_logging, rotating_file_logging
from .filters import RequestIdFilter
from .formatter import JsonFormatter

__all__ = [
    "JsonFormatter",
    "RequestIdFilter",
    "json_logging",
    "merge_logging",
    "rotating_file_logging",
]


#: How the core plugs this capability in (``opskit.capabilities``).
CAPABILITY = Capability(
    name="logs",
    section="LOGGING",
    checks=("opskit.logs.checks.register_checks",),
    ready=("opskit.logs.tasks.connect",),
    extension="opskit.logs.extension.RequestLogExtension",
    extension_order=90,
)
