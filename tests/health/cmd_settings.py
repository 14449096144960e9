"""Settings for the ``opskit_health`` subprocess tests (driven by env vars)."""

from __future__ import annotations

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, OPSKIT

if os.environ.get("HEALTH_TEST_SQLITE"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["HEALTH_TEST_SQLITE"],
        }
    }
if os.environ.get("HEALTH_TEST_HUNG_PORT"):
    DATABASES = {
        **DATABASES,
        "hung": {
            **DATABASES["default"],
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "127.0.0.1",
            "PORT": os.environ["HEALTH_TEST_HUNG_PORT"],
        },
    }
OPSKIT = {**OPSKIT, "HEALTH": json.loads(os.environ.get("HEALTH_TEST_OPTIONS", "{}"))}
if os.environ.get("HEALTH_TEST_JSON_LOGS"):
    # JSON lines on stdout, as in a container: --json must stay parseable.
    from opskit.logs import json_logging

    LOGGING = json_logging("INFO")
