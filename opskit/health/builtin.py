"""The built-in checks: databases, caches, Redis, disk, memory, migrations, Celery.

Each network check owns a dedicated connection, created on its worker thread
and reused across runs, with its own connect and read timeouts so a hung
dependency eventually frees the worker; on error the connection is closed and
the next run reconnects.  None of them writes anything.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any

from .base import STARTUP, Check, CheckFailed, CheckWarning

__all__ = [
    "CacheCheck",
    "CeleryBrokerCheck",
    "DatabaseCheck",
    "DiskCheck",
    "MemoryCheck",
    "MigrationsCheck",
    "RedisCheck",
]

#: Seconds a dedicated connection waits to connect or read when the check is
#: built without an explicit ``connect_timeout`` (``HEALTH.PROBE_TIMEOUT``).
DEFAULT_PROBE_TIMEOUT = 5.0


def _probe_settings(alias: str, timeout: float) -> dict[str, Any]:
    from django.db import connections

    settings_dict = copy.deepcopy(connections.settings[alias])
    options = settings_dict.setdefault("OPTIONS", {})
    engine = settings_dict.get("ENGINE", "")
    if "postgresql" in engine:
        # libpq counts whole seconds and treats anything below 2 as 2.
        options.setdefault("connect_timeout", max(2, math.ceil(timeout)))
        options.setdefault("application_name", "opskit-health")
    elif "mysql" in engine:
        options.setdefault("connect_timeout", max(1, math.ceil(timeout)))
        options.setdefault("read_timeout", max(1, math.ceil(timeout)))
    elif "sqlite" in engine:
        options.setdefault("timeout", timeout)
    settings_dict["CONN_MAX_AGE"] = None
    settings_dict["CONN_HEALTH_CHECKS"] = False
    return dict(settings_dict)


def _new_connection(alias: str, timeout: float) -> Any:
    """A DatabaseWrapper outside ``django.db.connections``.

    Owned by the calling (worker) thread: Django's request cycle never closes
    or reuses it, and no request ever waits on it.
    """
    from django.db.utils import load_backend

    settings_dict = _probe_settings(alias, timeout)
    backend = load_backend(settings_dict["ENGINE"])
    return backend.DatabaseWrapper(settings_dict, alias)


def _close_quietly(resource: Any) -> None:
    """Close a kept connection or client; one that fails to close is gone anyway."""
    if resource is not None:
        try:
            resource.close()
        except Exception:
            pass


class _KeptConnectionCheck(Check):
    """A check on a connection it keeps between runs (no connect per probe).

    A kept connection that fails may just be stale (a server restart, an
    idle timeout, a proxy dropping it), which says nothing about the
    dependency: then one fresh connection decides.  Any failure closes it.
    """

    component_type = "datastore"
    #: The check's name is ``<prefix>.<alias>``.
    prefix = ""

    def __init__(self, alias: str = "default", connect_timeout: float | None = None, **kw: Any):
        kw.setdefault("name", f"{self.prefix}.{alias}")
        super().__init__(**kw)
        self.alias = alias
        self.connect_timeout = connect_timeout or DEFAULT_PROBE_TIMEOUT

    def _connected(self) -> bool:
        raise NotImplementedError

    def _probe(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def run(self) -> float | None:
        reused = self._connected()
        try:
            self._probe()
        except Exception:
            self.close()
            if not reused:
                raise
            try:
                self._probe()
            except BaseException:
                self.close()
                raise
        except BaseException:
            self.close()
            raise
        return None


class DatabaseCheck(_KeptConnectionCheck):
    """``SELECT 1`` on a dedicated, persistent connection to one alias."""

    prefix = "db"

    def __init__(self, alias: str = "default", connect_timeout: float | None = None, **kw: Any):
        super().__init__(alias, connect_timeout, **kw)
        self.connection: Any = None
        #: Queries sent and connections opened (operational counters).
        self.queries = 0
        self.connects = 0

    def _connected(self) -> bool:
        return self.connection is not None and self.connection.connection is not None

    def _probe(self) -> None:
        if self.connection is None:
            self.connection = _new_connection(self.alias, self.connect_timeout)
        conn = self.connection
        if conn.connection is None:
            self.connects += 1
            conn.connect()
        with conn.cursor() as cursor:
            self.queries += 1
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def close(self) -> None:
        conn, self.connection = self.connection, None
        _close_quietly(conn)


class CacheCheck(Check):
    """One ``get`` of an absent key on this thread's cache client (no writes)."""

    component_type = "datastore"
    KEY = "opskit:health:probe"

    def __init__(self, alias: str = "default", **kw: Any):
        kw.setdefault("name", f"cache.{alias}")
        super().__init__(**kw)
        self.alias = alias

    def run(self) -> float | None:
        from django.core.cache import caches

        caches[self.alias].get(self.KEY)
        return None


class RedisCheck(_KeptConnectionCheck):
    """``PING`` on a dedicated client to a django-redis cache's server.

    The client has its own connect/read timeout and no retries, unlike the
    cache's shared pool (no timeout and retries by default), so a frozen
    Redis frees the worker after ``connect_timeout`` instead of never.

    Topologies: a Sentinel alias (django-redis ``SENTINELS``) pings the master
    the sentinels name now, so a failover is followed; a Redis Cluster node
    (detected once from ``INFO cluster``) must report ``cluster_state:ok``,
    because a Cluster with unserved slots fails requests while each node
    still answers ``PING``.
    """

    prefix = "redis"

    def __init__(self, alias: str = "default", connect_timeout: float | None = None, **kw: Any):
        super().__init__(alias, connect_timeout, **kw)
        self.client: Any = None
        self.sentinels: list[Any] = []
        #: Whether the server is a Cluster node (``None``: not asked yet).
        self.cluster: bool | None = None
        self.pings = 0

    def _client(self) -> Any:
        from urllib.parse import urlsplit

        from django.conf import settings

        cfg: dict[str, Any] = dict(settings.CACHES[self.alias])  # type: ignore[call-overload]
        location = cfg.get("LOCATION")
        url = location[0] if isinstance(location, (list, tuple)) else str(location).split(",")[0]
        options = cfg.get("OPTIONS") or {}
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        kwargs: dict[str, Any] = {
            "socket_connect_timeout": self.connect_timeout,
            "socket_timeout": self.connect_timeout,
            "retry": Retry(NoBackoff(), 0),
            "health_check_interval": 0,
        }
        if options.get("PASSWORD"):
            kwargs["password"] = options["PASSWORD"]
        if options.get("SENTINELS"):
            # django-redis's Sentinel support: LOCATION is redis://<service>/<db>.
            from redis.sentinel import Sentinel

            sentinel_kwargs = {
                "socket_timeout": self.connect_timeout,
                "socket_connect_timeout": self.connect_timeout,
                **(options.get("SENTINEL_KWARGS") or {}),
            }
            group = Sentinel(options["SENTINELS"], sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
            self.sentinels = list(group.sentinels)
            parts = urlsplit(url)
            db = int(parts.path.strip("/") or 0)
            return group.master_for(parts.hostname, db=db, **kwargs)  # type: ignore[no-untyped-call]
        if not url.startswith(("redis://", "rediss://", "unix://")):
            # Custom factories: use the cache's own client.
            from django_redis import get_redis_connection  # type: ignore[import-untyped]

            return get_redis_connection(self.alias)
        import redis

        return redis.Redis.from_url(url, single_connection_client=True, **kwargs)

    def _connected(self) -> bool:
        return self.client is not None

    def _probe(self) -> None:
        if self.client is None:
            self.client = self._client()
        self.pings += 1
        if self.cluster is None:
            self.cluster = bool(self.client.info("cluster").get("cluster_enabled"))
        if self.cluster:
            info = self.client.execute_command("CLUSTER INFO")  # parsed to a dict
            state = str(info.get("cluster_state", "?")) if isinstance(info, dict) else "?"
            if state != "ok":
                raise CheckFailed(f"cluster_state {state}")
        elif not self.client.ping():
            raise CheckFailed("PING not answered")

    def close(self) -> None:
        client, self.client = self.client, None
        sentinels, self.sentinels = self.sentinels, []
        _close_quietly(client)
        for sentinel in sentinels:
            _close_quietly(sentinel)


class DiskCheck(Check):
    """Used share of a filesystem; warns at ``warn_percent``."""

    component_type = "system"
    measurement = "utilization"
    unit = "percent"
    critical = False

    def __init__(self, path: str = "/", warn_percent: float = 90.0, **kw: Any):
        if "name" not in kw:
            slug = path.strip("/").replace("/", ".")
            kw["name"] = f"disk.{slug}" if slug else "disk"
        super().__init__(**kw)
        self.path = path
        self.warn_percent = warn_percent

    def run(self) -> float | None:
        import psutil

        used = float(psutil.disk_usage(self.path).percent)
        if used >= self.warn_percent:
            raise CheckWarning(f"{used:.0f}% used", observed=used)
        return used


class MemoryCheck(Check):
    """Used share of the machine's memory; warns at ``warn_percent``."""

    component_type = "system"
    measurement = "utilization"
    unit = "percent"
    critical = False

    def __init__(self, warn_percent: float = 90.0, **kw: Any):
        kw.setdefault("name", "memory")
        super().__init__(**kw)
        self.warn_percent = warn_percent

    def run(self) -> float | None:
        import psutil

        used = float(psutil.virtual_memory().percent)
        if used >= self.warn_percent:
            raise CheckWarning(f"{used:.0f}% used", observed=used)
        return used


class MigrationsCheck(Check):
    """No unapplied migrations on an alias (the startup probe).

    Once everything is applied it stays applied for the life of the process
    (the code cannot change under it), so later runs cost nothing.
    """

    component_type = "datastore"
    measurement = "pending"
    unit = "migrations"
    groups = frozenset({STARTUP})

    def __init__(self, alias: str = "default", connect_timeout: float | None = None, **kw: Any):
        kw.setdefault("name", f"migrations.{alias}")
        super().__init__(**kw)
        self.alias = alias
        self.connect_timeout = connect_timeout or DEFAULT_PROBE_TIMEOUT
        self.applied = False

    def run(self) -> float | None:
        if self.applied:
            return 0
        from django.db.migrations.executor import MigrationExecutor

        conn = _new_connection(self.alias, self.connect_timeout)
        try:
            executor = MigrationExecutor(conn)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        finally:
            conn.close()
        if plan:
            raise CheckFailed(f"{len(plan)} unapplied migrations", observed=len(plan))
        self.applied = True
        return 0


class CeleryBrokerCheck(Check):
    """The Celery broker accepts a connection (kombu; optional).

    A Redis broker is pinged on a dedicated client; other transports go
    through kombu, which must be installed (Celery depends on it).
    """

    component_type = "component"
    critical = False

    def __init__(self, url: str | None = None, connect_timeout: float | None = None, **kw: Any):
        kw.setdefault("name", "celery")
        super().__init__(**kw)
        self.url = url
        self.connect_timeout = connect_timeout or DEFAULT_PROBE_TIMEOUT
        self.client: Any = None

    def _url(self) -> str:
        if self.url:
            return self.url
        from django.conf import settings

        url = getattr(settings, "CELERY_BROKER_URL", None) or getattr(settings, "BROKER_URL", None)
        if not url:
            raise CheckFailed("no broker configured")
        return str(url)

    def run(self) -> float | None:
        url = self._url()
        if url.startswith(("redis://", "rediss://")):
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            if self.client is None:
                self.client = redis.Redis.from_url(
                    url,
                    socket_connect_timeout=self.connect_timeout,
                    socket_timeout=self.connect_timeout,
                    retry=Retry(NoBackoff(), 0),
                    single_connection_client=True,
                )
            try:
                self.client.ping()
            except BaseException:
                self.close()
                raise
            return None
        import importlib

        # kombu is Celery's own dependency, not opskit's (typed as Any).
        connection: Any = importlib.import_module("kombu").Connection
        start = time.monotonic()
        with connection(url, connect_timeout=self.connect_timeout) as conn:
            conn.ensure_connection(max_retries=1, timeout=self.connect_timeout)
        return (time.monotonic() - start) * 1000

    def close(self) -> None:
        client, self.client = self.client, None
        _close_quietly(client)
