"""The demo's URLs without opskit's own endpoints (for the ``bare`` variant)."""

from __future__ import annotations

from demo.urls import urlpatterns as _demo
from django.urls import URLResolver

urlpatterns = [p for p in _demo if not (isinstance(p, URLResolver) and p.app_name == "opskit")]
