"""The demo's settings, pointed at the rehearsal's stack.

The rehearsal starts gunicorn with ``DJANGO_SETTINGS_MODULE`` set to this
module and the addresses of what it started in the environment:

* ``REHEARSAL_DATABASE_URL``: a temporary PostgreSQL database (``default``);
* ``REHEARSAL_REPLICA_URL``: the same database through a TCP proxy that the
  rehearsal can switch to "hung" (``replica``, critical for readiness like
  every database alias);
* ``REHEARSAL_REDIS_URL``: a private redis-server it may freeze and kill;
* ``REHEARSAL_REDIS_CLUSTER`` (optional, the rate-limit matrix): the node URLs
  of a private Redis Cluster, comma-separated, which the limiter then uses
  (alias ``ratelimit``, ``RATELIMIT.TOPOLOGY = "cluster"``).

Everything else is the demo's own configuration, so the rehearsal runs what
a team would deploy.
"""

from __future__ import annotations

import os
from typing import Any

import dj_database_url
from demo.settings import *  # noqa: F403
from demo.settings import OPSKIT as DEMO_OPSKIT

from opskit.logs import json_logging

ROOT_URLCONF = "tests.rehearsal.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DEBUG = False

DATABASES = {
    "default": dj_database_url.parse(os.environ["REHEARSAL_DATABASE_URL"], conn_max_age=60),
    # No view reads it: only the readiness probe does, so a hung replica
    # must fail /readyz and leave everything else alone.
    "replica": dj_database_url.parse(os.environ["REHEARSAL_REPLICA_URL"], conn_max_age=60),
}
for _db in DATABASES.values():
    _db["OPTIONS"] = {"connect_timeout": 2}
DATABASES["replica"]["TEST"] = {"MIRROR": "default"}

# Short socket timeouts: nothing may wait long on a frozen Redis.
CACHES: dict[str, Any] = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ["REHEARSAL_REDIS_URL"],
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 0.25,
            "SOCKET_TIMEOUT": 0.25,
        },
    }
}

#: The configured limit of the rehearsal's rate-limited endpoint (per hour,
#: so no token comes back while the scenario runs).
RATE_LIMIT = int(os.environ.get("REHEARSAL_RATE_LIMIT", "25"))

OPSKIT: dict[str, Any] = {
    **DEMO_OPSKIT,
    # The load client connects from loopback as a reverse proxy would and
    # appends the "real" client in X-Forwarded-For.
    "TRUSTED_PROXIES": ["127.0.0.0/8", "::1/128"],
    # One line for every request, probes and scrapes included, so each
    # response's request id can be found in the log.
    # Hostile input reaches the log through the user agent, a few headers
    # and the query string (secrets redacted): every line must stay JSON.
    "LOGGING": {
        "SKIP_PATHS": [],
        "LOG_USER_AGENT": True,
        "LOG_QUERY_STRING": True,
        "LOG_HEADERS": ["referer", "authorization", "x-api-key", "cookie"],
    },
    "RATELIMIT": {**DEMO_OPSKIT.get("RATELIMIT", {}), "BACKEND": "redis", "FAIL_OPEN": True},
    # A secret the hostile-input scenario sends and must never find echoed.
    "HEALTH": {**DEMO_OPSKIT.get("HEALTH", {}), "TOKEN": os.environ["REHEARSAL_HEALTH_TOKEN"]},
}

if os.environ.get("REHEARSAL_REDIS_CLUSTER"):
    CACHES["ratelimit"] = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ["REHEARSAL_REDIS_CLUSTER"].split(","),
    }
    OPSKIT["RATELIMIT"] = {**OPSKIT["RATELIMIT"], "CACHE": "ratelimit", "TOPOLOGY": "cluster"}

# JSON lines on stdout, which the rehearsal reads back.
LOGGING = json_logging("INFO")
