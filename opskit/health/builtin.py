"""The built-in checks: databases, caches, Redis, disk, memory, migrations, Celery.

Each network check owns a dedicated connection, created on its worker thread
and reused across runs, with its own connect and read timeouts so a hung
dependency eventually frees the worker; on error the connection is closed and
the next run reconnects.  None of them writes anything.

A kept connection can die silently (a NAT or proxy forgets it, a cable is
pulled: no FIN, no RST) and a socket without a read timeout then waits for
the kernel to give up, about 15 minutes.  So every probe connection carries
TCP keepalives and ``tcp_user_timeout`` (a dead network is noticed while
idle or with data unacknowledged) and a client-side read bound: a watchdog
shuts the socket down when a query outlives it, the one bound that holds
when something still acknowledges the packets but nothing answers (a
frozen server, a proxy that stopped forwarding).  A kept connection gets
half the probe's budget; if it fails, one fresh connection decides within
the rest (after a failure, a PostgreSQL server must first answer an
SSLRequest within the same bound, as libpq's connect timeout is 2 s at
least).
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

from .base import STARTUP, Check, CheckFailed, CheckWarning

__all__ = [
    "CacheCheck",
    "CeleryBrokerCheck",
    "CeleryWorkersCheck",
    "DatabaseCheck",
    "DiskCheck",
    "MemoryCheck",
    "MigrationsCheck",
    "RedisCheck",
]

#: Seconds a dedicated connection waits to connect or read when the check is
#: built without an explicit ``connect_timeout`` (``HEALTH.PROBE_TIMEOUT``).
DEFAULT_PROBE_TIMEOUT = 2.0

#: TCP keepalive of the probe connections: first probe after this many idle
#: seconds, then every ``KEEPALIVE_INTERVAL`` s, ``KEEPALIVE_COUNT`` times.
#: A kept connection idles between runs; a dead peer is found in ~8 s.
KEEPALIVE_IDLE = 5
KEEPALIVE_INTERVAL = 1
KEEPALIVE_COUNT = 3


def _keepalive_socket_options() -> dict[int, int]:
    """``TCP_KEEP*`` for redis-py's ``socket_keepalive_options`` (Linux, macOS)."""
    out: dict[int, int] = {}
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
        ("TCP_KEEPCNT", KEEPALIVE_COUNT),
    ):
        opt = getattr(socket, name, None)
        if opt is not None:
            out[opt] = value
    return out


def _probe_settings(alias: str, timeout: float) -> dict[str, Any]:
    from django.db import connections

    settings_dict = copy.deepcopy(connections.settings[alias])
    options = settings_dict.setdefault("OPTIONS", {})
    engine = settings_dict.get("ENGINE", "")
    if "postgresql" in engine:
        ms = max(1, math.ceil(timeout * 1000))
        # The probe's own bounds, whatever the app's requests use.  libpq
        # counts whole seconds and treats anything below 2 as 2.
        options["connect_timeout"] = max(2, math.ceil(timeout))
        options.setdefault("application_name", "opskit-health")
        # A dead network: keepalives while idle, tcp_user_timeout (ms) while
        # a query is unacknowledged.  No ``options=-c statement_timeout``:
        # ``SELECT 1`` cannot run long on a live server, a frozen one would
        # not enforce it, and PgBouncer refuses the ``options`` parameter;
        # the client-side read bound below covers both.
        options.setdefault("keepalives", 1)
        options.setdefault("keepalives_idle", KEEPALIVE_IDLE)
        options.setdefault("keepalives_interval", KEEPALIVE_INTERVAL)
        options.setdefault("keepalives_count", KEEPALIVE_COUNT)
        options["tcp_user_timeout"] = ms
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


def _shutdown_fd(fd: int) -> None:
    """Shut a socket down from another thread: its blocked reader wakes at once."""
    with contextlib.suppress(OSError):
        sock = socket.socket(fileno=os.dup(fd))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


@contextlib.contextmanager
def read_bound(fd: int | None, seconds: float) -> Iterator[None]:
    """Shut the socket ``fd`` down if the block outlives ``seconds``.

    A client-side read timeout for drivers that have none (libpq): the
    blocked read fails with a connection error and the caller closes the
    connection.  The lock keeps the timer from touching ``fd`` once the
    block is left (the descriptor may be closed and reused by then).
    """
    if fd is None or fd < 0:
        yield
        return
    lock = threading.Lock()
    active = [True]

    def fire() -> None:
        with lock:
            if active[0]:
                _shutdown_fd(fd)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            active[0] = False
        timer.cancel()


def _fileno(raw: Any) -> int | None:
    """The socket of a DB-API connection (psycopg 2 and 3), if it has one."""
    try:
        return int(raw.fileno())
    except Exception:
        return None


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
        #: Read bound of the attempt in progress (see :meth:`run`).
        self.read_timeout = self.connect_timeout

    def stale_bound(self) -> float:
        """Seconds a kept connection gets: half the probe's budget, so a
        fresh connection still fits in the rest of it."""
        budget = self.timeout
        if budget is None:
            from ..conf import get_settings

            budget = get_settings().HEALTH.DEADLINE
        return min(self.connect_timeout, budget / 2)

    def _connected(self) -> bool:
        raise NotImplementedError

    def _probe(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def run(self) -> float | None:
        reused = self._connected()
        self.read_timeout = self.stale_bound() if reused else self.connect_timeout
        try:
            self._probe()
        except Exception:
            self.close()
            if not reused:
                raise
            self.read_timeout = self.connect_timeout
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
        #: The last run failed: check that the server answers before connecting.
        self.suspect = False

    def _connected(self) -> bool:
        return self.connection is not None and self.connection.connection is not None

    def _probe(self) -> None:
        if self.connection is None:
            self.connection = _new_connection(self.alias, self.connect_timeout)
        conn = self.connection
        if conn.connection is None:
            if self.suspect:
                _postgres_answers(conn.settings_dict, self.stale_bound())
            self.connects += 1
            conn.connect()
        with read_bound(_fileno(conn.connection), self.read_timeout), conn.cursor() as cursor:
            self.queries += 1
            cursor.execute("SELECT 1")
            cursor.fetchone()
        self.suspect = False

    def close(self) -> None:
        # Closed after a failure (or at shutdown): the path may be dead.
        self.suspect = True
        conn, self.connection = self.connection, None
        _close_quietly(conn)


#: PostgreSQL's SSLRequest: a server answers it with one byte at once.
_SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def _postgres_answers(settings_dict: dict[str, Any], timeout: float) -> None:
    """Raise unless the PostgreSQL server answers an SSLRequest in ``timeout``.

    libpq's ``connect_timeout`` is at least 2 s, longer than a probe's
    budget: after a failure, a connect through a dead path (a frozen server
    or a network that drops packets) would keep the check's worker for 2 s
    and readiness failing that long after the recovery.  One byte on a
    throwaway socket with a real timeout decides first.  Only TCP to one
    host (a Unix socket cannot lose packets; several hosts are libpq's to
    try) and only after a failure: steady probing never opens it.
    """
    if "postgresql" not in str(settings_dict.get("ENGINE", "")):
        return
    host = str(settings_dict.get("HOST") or "")
    if not host or host.startswith("/") or "," in host:
        return
    port = int(settings_dict.get("PORT") or 5432)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(_SSL_REQUEST)
        sock.recv(1)  # "S", "N", or a close: alive either way; silence times out


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
        from django.conf import settings

        cfg: dict[str, Any] = dict(settings.CACHES[self.alias])  # type: ignore[call-overload]
        location = cfg.get("LOCATION")
        url = location[0] if isinstance(location, (list, tuple)) else str(location).split(",")[0]
        options = cfg.get("OPTIONS") or {}
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        kwargs: dict[str, Any] = {
            "socket_connect_timeout": self.connect_timeout,
            # A PING takes microseconds: a read slower than half the budget
            # is a frozen server or a dead network, and a fresh connection
            # still fits in the other half.
            "socket_timeout": self.stale_bound(),
            "socket_keepalive": True,
            "socket_keepalive_options": _keepalive_socket_options(),
            "retry": Retry(NoBackoff(), 0),
            "health_check_interval": 0,
        }
        if options.get("PASSWORD"):
            kwargs["password"] = options["PASSWORD"]
        if options.get("SENTINELS"):
            # django-redis's Sentinel support: LOCATION is redis://<service>/<db>.
            from redis.sentinel import Sentinel

            from ..rediscache import sentinel_master

            service, db = sentinel_master(cfg)  # SentinelLocationError: opskit.E505
            sentinel_kwargs = {
                "socket_timeout": self.connect_timeout,
                "socket_connect_timeout": self.connect_timeout,
                **(options.get("SENTINEL_KWARGS") or {}),
            }
            group = Sentinel(options["SENTINELS"], sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
            self.sentinels = list(group.sentinels)
            return group.master_for(service, db=db, **kwargs)  # type: ignore[no-untyped-call]
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
                    socket_keepalive=True,
                    socket_keepalive_options=_keepalive_socket_options(),
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


class CeleryWorkersCheck(Check):
    """At least one Celery worker answers a control ``ping`` (opt-in).

    The broker check proves messages can be queued; this one proves somebody
    consumes them.  One broadcast ping, answered by the first worker
    (``limit=1``), waits at most ``reply_timeout`` seconds, inside the probe's
    deadline.  Critical by default (you add it because tasks matter); give it
    ``"critical": False`` to report without failing readiness.
    """

    component_type = "component"

    def __init__(
        self,
        app: str | None = None,
        reply_timeout: float = 0.5,
        connect_timeout: float | None = None,
        **kw: Any,
    ):
        kw.setdefault("name", "celery.workers")
        super().__init__(**kw)
        self.app = app
        self.reply_timeout = reply_timeout

    def _app(self) -> Any:
        if self.app:
            from django.utils.module_loading import import_string

            return import_string(self.app)
        import importlib

        # Celery is optional (the ``celery`` extra): the project's app, set
        # as current when its module is imported (the usual ``proj/celery.py``).
        return importlib.import_module("celery").current_app

    def run(self) -> float | None:
        replies = self._app().control.ping(timeout=self.reply_timeout, limit=1)
        if not replies:
            raise CheckFailed("no Celery worker answered a ping", observed=0)
        return len(replies)
