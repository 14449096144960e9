"""The demo blog as shipped (``opskit``) or without opskit (``bare``), on PostgreSQL.

``DATABASE_URL`` names the database the suite created and seeded;
``demo_project`` is on ``PYTHONPATH``.
"""

from __future__ import annotations

import os

from demo.settings import *  # noqa: F403
from demo.settings import INSTALLED_APPS, MIDDLEWARE

BENCH_E2E_VARIANT = os.environ.get("BENCH_E2E_VARIANT", "opskit")

if BENCH_E2E_VARIANT == "bare":
    INSTALLED_APPS.remove("opskit")
    MIDDLEWARE.remove("opskit.middleware.OpsKitMiddleware")
    LOGGING = {"version": 1, "disable_existing_loggers": False}
    ROOT_URLCONF = "bench.e2eproj.demo_urls"
elif BENCH_E2E_VARIANT != "opskit":
    raise RuntimeError(f"unknown BENCH_E2E_VARIANT {BENCH_E2E_VARIANT!r}")
