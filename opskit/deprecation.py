"""Old names kept for one release: they work, and warn only when used."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["renamed"]


def renamed(
    module: str, names: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving each old name in ``names`` as its new
    one in ``namespace`` (the module's globals), with a ``DeprecationWarning``."""

    def __getattr__(name: str) -> Any:
        if name in names:
            new = names[name]
            warnings.warn(
                f"{module}.{name} is deprecated; use {module}.{new}.",
                DeprecationWarning,
                stacklevel=2,
            )
            return namespace[new]
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
