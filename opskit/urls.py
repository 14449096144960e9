"""``path("", include("opskit.urls"))``: the endpoints capabilities serve.

The patterns come from the capability descriptors (``Capability.urls``),
built when Django first resolves a URL, so importing this module imports no
view.
"""

from __future__ import annotations

from typing import Any

app_name = "opskit"


def __getattr__(name: str) -> Any:
    if name == "urlpatterns":
        from .capabilities import url_patterns

        return url_patterns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
