"""Settings of the gunicorn the multi-process test starts."""

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.metrics.urls"
