"""Where the counters live: Redis (one Lua script, one round trip) or Django's cache.

The Redis path is the production path.  It reaches the server (a single node,
a Sentinel group or a Cluster) configured for a django-redis cache alias,
through redis-py clients of its *own* built from that alias's settings: a
short socket timeout (``SOCKET_TIMEOUT``), no retries.  The cache's own client
keeps its long timeouts for the application; the limiter must never stall a
request for seconds because Redis hangs.  Scripts run through redis-py's
``Script`` (``EVALSHA``, with ``SCRIPT LOAD`` on ``NOSCRIPT``).  A circuit
breaker in front of it turns a dead Redis into a few timeouts, then about
0 ms per decision until the cooldown has passed and one trial succeeds.

Connections stay bounded in every server model:

* sync decisions share one thread-safe redis-py pool per process (per node
  on a Cluster): at most one connection per thread deciding at once;
* async decisions on a long-lived event loop (uvicorn, Daphne, an ASGI
  worker) use ``redis.asyncio`` with at most :data:`ASYNC_CONNECTIONS` in
  flight per loop;
* an async view served by WSGI runs in an event loop that asgiref's
  ``async_to_sync`` makes for that one request and then closes.  Sockets
  opened on such a loop would die with it (a leak per request), so there the
  decision uses the sync pool: the loop has nothing else to run while the
  request waits, so the blocking call costs it nothing.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import math
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from ..rediscache import cache_config, locations, sentinel_master, uses_sentinel
from ..throttle import Throttle

__all__ = [
    "ASYNC_CONNECTIONS",
    "GCRA_SCRIPT",
    "Backend",
    "Breaker",
    "CacheBackend",
    "RedisBackend",
    "Topology",
    "Unavailable",
    "cluster_enabled",
    "redis_topology",
]

logger = logging.getLogger("opskit.ratelimit")

#: One script decides every limit of a request in one round trip, on the
#: server's clock.  KEYS: one per limit, all with one hash tag (one Cluster
#: slot).  ARGV[1] = cost, then per limit: mode ("g" GCRA or "z" sliding
#: log), a, b -- for "g" the emission interval and burst tolerance (µs), for
#: "z" the window (µs) and the limit.  Nothing is counted unless every limit
#: admits the request.  Reply: one string of integers "allowed now_us" then
#: per limit "remaining reset_us retry_after_us".
GCRA_SCRIPT = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local out = {1, now}
local writes = {}
local ok = 1
for i = 1, #KEYS do
  local key = KEYS[i]
  local a = tonumber(ARGV[3 * i])
  local b = tonumber(ARGV[3 * i + 1])
  local rem, reset, retry
  if ARGV[3 * i - 1] == 'g' then
    local tat = tonumber(redis.call('GET', key) or 0)
    if tat < now then tat = now end
    local new = tat + cost * a
    local ahead = new - now
    if ahead <= b then
      rem = math.floor((b - ahead) / a)
      reset = ahead
      retry = 0
      if ahead > 0 then writes[#writes + 1] = {i, new, ahead} end
    else
      ok = 0
      rem = math.floor((b - (tat - now)) / a)
      if rem < 0 then rem = 0 end
      reset = tat - now
      retry = ahead - b
    end
  else
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - a)
    local count = redis.call('ZCARD', key)
    if count + cost <= b then
      rem = b - count - cost
      reset = a
      retry = 0
      writes[#writes + 1] = {i, 0, 0}
    else
      ok = 0
      rem = b - count
      if rem < 0 then rem = 0 end
      local k = count + cost - b
      if k > count then
        retry = a
      else
        local e = redis.call('ZRANGE', key, k - 1, k - 1, 'WITHSCORES')
        retry = tonumber(e[2]) + a - now
      end
      local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
      reset = a
      if last[2] then reset = tonumber(last[2]) + a - now end
    end
  end
  out[3 * i] = rem
  out[3 * i + 1] = reset
  out[3 * i + 2] = retry
end
if ok == 1 then
  for _, w in ipairs(writes) do
    local i = w[1]
    local key = KEYS[i]
    if ARGV[3 * i - 1] == 'g' then
      redis.call('SET', key, string.format('%d', w[2]), 'PX', math.ceil(w[3] / 1000) + 1)
    else
      local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
      local ts = now
      if last[2] and tonumber(last[2]) >= ts then ts = tonumber(last[2]) + 1 end
      for j = 0, cost - 1 do
        redis.call('ZADD', key, ts + j, string.format('%d', ts + j))
      end
      redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[3 * i]) / 1000) + 1)
    end
  end
else
  out[1] = 0
  -- Nothing is counted: report the passing limits as they stand.
  for _, w in ipairs(writes) do
    local i = w[1]
    out[3 * i] = out[3 * i] + cost
    if ARGV[3 * i - 1] == 'g' then out[3 * i + 1] = w[3] - cost * tonumber(ARGV[3 * i]) end
  end
end
-- One bulk string parses far cheaper on the client than an array of integers.
for i = 1, #out do out[i] = string.format('%d', out[i]) end
return table.concat(out, ' ')
"""
SCRIPT_SHA = hashlib.sha1(GCRA_SCRIPT.encode()).hexdigest()

Reply = list[int]
Topology = Literal["single", "sentinel", "cluster"]
#: Decisions in flight per long-lived event loop (and so its connections to
#: each Redis node); more queue for them (see :class:`_LoopClient`).
ASYNC_CONNECTIONS = 2
#: A queued async decision waits at most this many ``SOCKET_TIMEOUT`` in all.
QUEUE_WAIT = 4
#: A deadline looked at this late (s) means this process was not running (a
#: busy host), not that Redis was silent: it moves once by the timeout.
LATE = 0.05
#: Loop turns a decision past its deadline gets to finish reading a reply
#: already in its socket.
GRACE_TURNS = 3


async def _wait(fut: asyncio.Future[Any], timeout: float) -> bool:
    """Wait for ``fut`` up to ``timeout`` of this loop's own time; ``True`` if done.

    ``asyncio.wait``, not ``wait_for``: it never cancels ``fut``, so a reply
    that came while the loop was late is used.  A deadline the loop reached
    late (the process waited for the CPU, maybe before the command was even
    sent) moves once, by the timeout: a busy host is not a hung Redis.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    moved = False
    while True:
        await asyncio.wait((fut,), timeout=max(0.0, deadline - loop.time()))
        for _ in range(GRACE_TURNS):
            if fut.done():
                return True
            await asyncio.sleep(0)
        if fut.done():
            return True
        now = loop.time()
        if moved or now - deadline < LATE:
            return False
        moved, deadline = True, now + timeout


def _parse(reply: bytes | str) -> Reply:
    return list(map(int, reply.split()))


class Unavailable(Exception):
    """The backend could not decide (down, hung, breaker open)."""


class Breaker:
    """A per-process circuit breaker: fail fast while the backend is down.

    ``threshold`` consecutive failures open it for ``cooldown`` seconds; then
    one caller at a time may try (half-open).  Success closes it.  Opening
    and closing are logged once each, never per request.
    """

    def __init__(self, name: str, threshold: int, cooldown: float, trial_timeout: float) -> None:
        self.name = name
        self.threshold = max(1, threshold)
        self.cooldown = max(0.0, cooldown)
        self.trial_timeout = max(0.05, trial_timeout * 4)
        self.failures = 0
        self.open_until: float | None = None
        self.trial_started = 0.0
        self._lock = threading.Lock()
        self._said = Throttle(max_keys=16)

    @property
    def is_open(self) -> bool:
        return self.open_until is not None

    def remaining(self) -> float:
        """Seconds until the next trial (0 when closed)."""
        if self.open_until is None:
            return 0.0
        return max(0.0, self.open_until - time.monotonic())

    def blocked(self) -> bool:
        """Open and not yet due for a trial (a cheap re-check after a wait)."""
        until = self.open_until
        return until is not None and time.monotonic() < until

    def allow(self) -> bool:
        until = self.open_until
        if until is None:
            return True
        now = time.monotonic()
        if now < until:
            return False
        with self._lock:
            if now - self.trial_started < self.trial_timeout:
                return False  # another caller is already trying
            self.trial_started = now
            return True

    def success(self) -> None:
        if self.open_until is None and not self.failures:
            return
        with self._lock:
            was_open = self.open_until is not None
            self.failures = 0
            self.open_until = None
            self.trial_started = 0.0
        if was_open:
            logger.warning(
                "rate limiter backend %s is back; limits apply again",
                self.name,
                extra={"event": "ratelimit.backend_recovered", "backend": self.name},
            )

    def failure(self, exc: BaseException) -> None:
        with self._lock:
            self.failures += 1
            failures = self.failures
            was_open = self.open_until is not None
            if failures >= self.threshold:
                self.open_until = time.monotonic() + self.cooldown
                self.trial_started = 0.0
        kind = type(exc).__name__
        if failures < self.threshold:
            # Below the threshold: the request failed open or closed without a
            # trace but its log line's outcome.  Say why, once a minute per kind.
            if self._said.due(kind, 60.0):
                logger.warning(
                    "rate limiter backend %s could not decide (%s: %s); %d of %d "
                    "failures in a row before the breaker opens",
                    self.name,
                    kind,
                    exc,
                    failures,
                    self.threshold,
                    extra={
                        "event": "ratelimit.decision_failed",
                        "backend": self.name,
                        "error_type": kind,
                        "error": str(exc)[:300],
                    },
                )
        elif not was_open:
            logger.error(
                "rate limiter backend %s failed (%s); breaker open for %.1f s",
                self.name,
                kind,
                self.cooldown,
                extra={
                    "event": "ratelimit.backend_down",
                    "backend": self.name,
                    "error_type": kind,
                },
            )


class Backend:
    """Runs the decision script; raises :class:`Unavailable` when it cannot."""

    name = "backend"
    breaker: Breaker

    def evaluate(self, keys: Sequence[str], args: Sequence[str | int]) -> Reply:
        raise NotImplementedError

    async def aevaluate(self, keys: Sequence[str], args: Sequence[str | int]) -> Reply:
        raise NotImplementedError

    def run(self, keys: Sequence[str], args: Sequence[str | int]) -> Reply:
        breaker = self.breaker
        if not breaker.allow():
            raise Unavailable("breaker open")
        try:
            reply = self.evaluate(keys, args)
        except Exception as exc:
            breaker.failure(exc)
            raise Unavailable(type(exc).__name__) from exc
        breaker.success()
        return reply

    async def arun(self, keys: Sequence[str], args: Sequence[str | int]) -> Reply:
        breaker = self.breaker
        if not breaker.allow():
            raise Unavailable("breaker open")
        try:
            reply = await self.aevaluate(keys, args)
        except Unavailable:
            raise
        except Exception as exc:
            breaker.failure(exc)
            raise Unavailable(type(exc).__name__) from exc
        breaker.success()
        return reply


#: Connection settings carried over from the alias: where and who, not its
#: timeouts, retries or pool size.
_CARRIED = frozenset(
    {
        "host",
        "port",
        "db",
        "username",
        "password",
        "path",
        "credential_provider",
        "socket_keepalive",
        "socket_keepalive_options",
    }
)

#: redis-py errors that mean "pointed at the wrong kind of server", never a
#: passing outage: logged loudly on every occurrence class (see ``_loud``).
_MISCONFIGURED = ("MovedError", "AskError", "CrossSlotTransactionError")


def redis_topology(alias: str, setting: str = "auto") -> Topology:
    """The topology the limiter talks to for ``alias`` (settings only, no I/O).

    ``"auto"`` is Sentinel when the alias uses django-redis's Sentinel
    support, otherwise a single node: a Cluster is named explicitly
    (``RATELIMIT.TOPOLOGY = "cluster"``) because django-redis has no Cluster
    client to tell it from; system check ``opskit.E306`` compares the choice
    with what the server reports.
    """
    if setting in ("single", "sentinel", "cluster"):
        return setting  # type: ignore[return-value]
    return "sentinel" if uses_sentinel(cache_config(alias)) else "single"


def _connection_kwargs(alias: str, timeout: float) -> dict[str, Any]:
    """Who and where from the alias's own pool; our timeouts; no retries."""
    from django_redis import get_redis_connection  # type: ignore[import-untyped]
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # The alias's client is built without connecting; its pool knows the
    # URL, password, database and TLS settings the project configured.
    pool = get_redis_connection(alias).connection_pool
    kwargs = {
        k: v
        for k, v in pool.connection_kwargs.items()
        if k in _CARRIED or (k.startswith("ssl") and k != "ssl_context")
    }
    kwargs.update(
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=0,
        retry=Retry(NoBackoff(), 0),
    )
    if "SSL" in pool.connection_class.__name__:
        kwargs["ssl"] = True
    if "path" in kwargs:  # unix://: Redis() names it unix_socket_path
        kwargs["unix_socket_path"] = kwargs.pop("path")
        kwargs.pop("host", None)
        kwargs.pop("port", None)
    return kwargs


def _cluster_nodes(alias: str) -> list[tuple[str, int]]:
    nodes = []
    for loc in locations(cache_config(alias)):
        parts = urlsplit(loc if "://" in loc else f"redis://{loc}")
        nodes.append((parts.hostname or "127.0.0.1", parts.port or 6379))
    return nodes


def _sentinel_setup(alias: str) -> tuple[list[tuple[str, int]], str, dict[str, Any]]:
    """The sentinels, the master's service, and the sentinels' own client options.

    A LOCATION without a service raises :class:`SentinelLocationError`
    (system check ``opskit.E307``), logged as ``ratelimit.misconfigured``.
    """
    config = cache_config(alias)
    options = config.get("OPTIONS") or {}
    service, _db = sentinel_master(config)  # the db: in the alias's pool's kwargs
    sentinels = [(str(h), int(p)) for h, p in options.get("SENTINELS") or []]
    return sentinels, service, dict(options.get("SENTINEL_KWARGS") or {})


def build_client(alias: str, topology: Topology, timeout: float, *, is_async: bool) -> Any:
    """A redis-py client for the limiter: sync or ``redis.asyncio``, any topology.

    Building a sync Cluster client reads the slot map (a round trip); the
    others connect on first use.
    """
    # Read first: the alias's own client (for the kwargs) cannot be built
    # from a LOCATION without a service, and its error names no cause.
    sentinel = _sentinel_setup(alias) if topology == "sentinel" else None
    kwargs = _connection_kwargs(alias, timeout)
    if is_async:
        # The decision's own deadline (``RedisBackend._acall``) governs and
        # keeps a reply that came while the loop was late; redis-py's read
        # timeout would cancel it in the same turn.  It stays as a backstop,
        # beyond the longest a decision may wait (a deadline moved once on a
        # late loop, or a queued turn): when it fired first, a Cluster client
        # also refreshed its slot map and reconnected the node's free
        # connections, inside the next decisions' deadlines.
        kwargs["socket_timeout"] = QUEUE_WAIT * timeout
    if topology == "cluster":
        kwargs.pop("host", None)
        kwargs.pop("port", None)
        kwargs.pop("db", None)  # a Cluster has database 0 only
        nodes = _cluster_nodes(alias)
        if is_async:
            from redis.asyncio.cluster import ClusterNode as AsyncNode
            from redis.asyncio.cluster import RedisCluster as AsyncCluster
            from redis.asyncio.retry import Retry as AsyncRetry
            from redis.backoff import NoBackoff

            kwargs["retry"] = AsyncRetry(NoBackoff(), 0)
            return AsyncCluster(
                startup_nodes=[AsyncNode(h, p) for h, p in nodes],
                max_connections=ASYNC_CONNECTIONS,
                **kwargs,
            )
        from redis.cluster import ClusterNode, RedisCluster

        startup = [ClusterNode(h, p) for h, p in nodes]  # type: ignore[no-untyped-call]
        return RedisCluster(startup_nodes=startup, **kwargs)
    if sentinel is not None:
        kwargs.pop("host", None)
        kwargs.pop("port", None)
        sentinels, service, sentinel_kwargs = sentinel
        sentinel_kwargs.setdefault("socket_timeout", timeout)
        sentinel_kwargs.setdefault("socket_connect_timeout", timeout)
        if is_async:
            from redis.asyncio.retry import Retry as AsyncRetry
            from redis.asyncio.sentinel import Sentinel as AsyncSentinel
            from redis.backoff import NoBackoff

            kwargs["retry"] = AsyncRetry(NoBackoff(), 0)
            group = AsyncSentinel(sentinels, sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
            client = group.master_for(service, **kwargs)
            client.opskit_sentinels = group.sentinels  # closed with the client
            return client
        from redis.sentinel import Sentinel

        sync_group = Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
        sync_client = sync_group.master_for(service, **kwargs)  # type: ignore[no-untyped-call]
        sync_client.opskit_sentinels = sync_group.sentinels  # closed with the client
        return sync_client
    if is_async:
        import redis.asyncio
        from redis.asyncio.retry import Retry as AsyncRetry
        from redis.backoff import NoBackoff

        kwargs["retry"] = AsyncRetry(NoBackoff(), 0)
        return redis.asyncio.Redis(**kwargs)
    import redis

    return redis.Redis(**kwargs)


def cluster_enabled(alias: str, topology: Topology, timeout: float) -> bool | None:
    """Whether the alias's (first) server runs in Cluster mode; ``None``: no answer.

    For system check ``opskit.E306``: a single-node client on a Cluster node
    gets ``MOVED`` for most keys, a Cluster client on a plain server fails
    to start.  Sentinel groups are not asked (their masters are never
    Cluster nodes).
    """
    if topology == "sentinel":
        return None
    import redis

    kwargs = _connection_kwargs(alias, timeout)
    if topology == "cluster":
        nodes = _cluster_nodes(alias)
        if not nodes:
            return None
        kwargs["host"], kwargs["port"] = nodes[0]
        kwargs.pop("db", None)
    client = redis.Redis(**kwargs)
    try:
        info = client.info("cluster")
    except Exception:
        return None  # down or unreachable: the health check says so
    finally:
        client.close()
    return bool(info.get("cluster_enabled"))


def _short_lived(loop: asyncio.AbstractEventLoop) -> bool:
    """The loop is asgiref's one-call loop (an async view under WSGI).

    ``async_to_sync`` with no running loop makes a new loop in a new thread
    for one call and lists it in ``AsyncToSync.loop_thread_executors`` while
    the call runs.
    """
    try:
        from asgiref.sync import AsyncToSync
    except ImportError:  # pragma: no cover - Django depends on asgiref
        return False
    return loop in getattr(AsyncToSync, "loop_thread_executors", ())


class _LoopClient:
    """A long-lived event loop's async client and script, and its queue for connections.

    At most :data:`ASYNC_CONNECTIONS` decisions are in flight; the rest wait
    their turn in order.  A queued decision gives up when Redis has answered
    nothing on this loop for ``timeout`` (a hung Redis: counted against the
    breaker) or after :data:`QUEUE_WAIT` timeouts in all (a burst longer than
    a live Redis can drain: not counted, Redis is not at fault).  So a burst
    on a busy host, whose turns each take a scheduling delay, is not taken
    for an outage, and a hung Redis still fails every queued decision within
    the timeout.
    """

    __slots__ = ("client", "free", "progress", "script", "setup", "waiters")

    def __init__(self, client: Any) -> None:
        self.client = client
        self.script = client.register_script(GCRA_SCRIPT)
        self.free = ASYNC_CONNECTIONS
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        #: Loop time of the last reply from Redis (any decision on this loop).
        self.progress = 0.0
        #: The client's setup (``RedisBackend._setup``) until it has finished.
        self.setup: asyncio.Future[None] | None = None

    async def acquire(self, timeout: float) -> None:
        if self.free and not self.waiters:
            self.free -= 1
            return
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        self.waiters.append(turn)
        since = loop.time()
        cap = since + QUEUE_WAIT * timeout
        try:
            while True:
                end = max(since, self.progress) + timeout
                if await _wait(turn, min(end, cap) - loop.time()):
                    return
                if end >= cap:
                    raise Unavailable("queue full")
                if self.progress <= since:
                    raise TimeoutError(f"no reply from Redis in {timeout} s while queued")
                since = self.progress  # Redis answered meanwhile: keep the place
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.release()  # handed over as we gave up: pass it on
            else:
                turn.cancel()
                self.waiters.remove(turn)
            raise

    def release(self) -> None:
        while self.waiters:
            turn = self.waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # the connection passes straight to the next in line
                return
        self.free += 1


class RedisBackend(Backend):
    """The limiter's own short-timeout, no-retry redis-py clients for a django-redis alias."""

    def __init__(
        self, alias: str, timeout: float, breaker: Breaker, topology: str = "auto"
    ) -> None:
        self.alias = alias
        self.name = f"redis:{alias}"
        self.timeout = timeout
        self.breaker = breaker
        self.topology_setting = topology
        self._sync: tuple[Any, Any] | None = None
        self._lock = threading.Lock()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = (
            weakref.WeakKeyDictionary()
        )
        self._loud = Throttle(max_keys=64)

    @property
    def topology(self) -> Topology:
        return redis_topology(self.alias, self.topology_setting)

    def client(self) -> Any:
        """The sync client (thread-safe pool; redis-py resets it after a fork)."""
        return self._sync_pair()[0]

    def _sync_pair(self) -> tuple[Any, Any]:
        pair = self._sync
        if pair is None:
            with self._lock:
                pair = self._sync
                if pair is None:
                    client = build_client(self.alias, self.topology, self.timeout, is_async=False)
                    pair = self._sync = (client, client.register_script(GCRA_SCRIPT))
        return pair

    def _misconfigured(self, exc: BaseException) -> None:
        """A wrong topology or client is an ERROR every minute, not a quiet fail-open."""
        kind = type(exc).__name__
        if (
            not isinstance(exc, (AttributeError, TypeError, ImproperlyConfigured))
            and kind not in _MISCONFIGURED
        ):
            return
        if not self._loud.due(kind, 60.0):
            return
        logger.error(
            "rate limiter backend %s is misconfigured (%s: %s); each limit fails open or "
            "closed as configured until it is fixed",
            self.name,
            kind,
            exc,
            extra={
                "event": "ratelimit.misconfigured",
                "backend": self.name,
                "topology": self.topology,
                "error_type": kind,
            },
        )

    def evaluate(self, keys: Sequence[str], args: Sequence[str | int]) -> Reply:
        try:
            client, script = self._sync_pair()
            return _parse(script(keys=keys, args=args, client=client))
        except Exception as exc:
            self._misconfigured(exc)
            raise

    async def aevaluate(self, keys: Sequence[str], args: Sequence[str | int]) -> Reply:
        loop = asyncio.get_running_loop()
        if _short_lived(loop):
            return self.evaluate(keys, args)
        entry = self._loops.get(loop)
        try:
            if entry is None:
                client = build_client(self.alias, self.topology, self.timeout, is_async=True)
                entry = self._loops[loop] = _LoopClient(client)
                entry.setup = asyncio.ensure_future(self._setup(entry.client))
            if entry.setup is not None:
                await self._await_setup(entry)
            reply = await self._acall(entry, keys, args)
        except Unavailable:
            raise
        except Exception as exc:
            self._misconfigured(exc)
            raise
        return _parse(reply)

    async def _setup(self, client: Any) -> None:
        """Open the loop's connections and load the script, once per loop.

        A new client's first use takes several round trips (a Cluster's slot
        map, connecting with redis-py's handshake, ``SCRIPT LOAD`` after
        ``NOSCRIPT`` on each node): on a loaded host, where each round trip
        also waits for a crowded event loop, they can outlast one decision's
        timeout though Redis is healthy.  So all :data:`ASYNC_CONNECTIONS`
        connections to every node (every primary of a Cluster) are opened
        here, under the setup's own budget, and each decision is then one
        ``EVALSHA`` on an open connection.  (Opened lazily, a burst's second
        connection, and on a Cluster each node's, paid the handshake inside
        a decision's deadline.)
        """
        where: dict[str, Any] = {}
        if self.topology == "cluster":
            from redis.asyncio.cluster import RedisCluster as AsyncCluster

            await client.initialize()
            where["target_nodes"] = AsyncCluster.PRIMARIES
        # In flight together, so each takes a connection of its own (on every primary).
        await asyncio.gather(
            client.script_load(GCRA_SCRIPT),
            *(client.ping(**where) for _ in range(ASYNC_CONNECTIONS - 1)),
        )

    async def _await_setup(self, entry: _LoopClient) -> None:
        """The first decisions of a loop wait for its setup, up to ``QUEUE_WAIT`` timeouts.

        Each of its round trips has the socket timeout; a setup that fails
        is not retried (later decisions connect as they go).
        """
        setup = entry.setup
        assert setup is not None
        if not await _wait(setup, QUEUE_WAIT * self.timeout):
            raise TimeoutError(
                f"no reply from Redis while connecting ({QUEUE_WAIT * self.timeout} s)"
            )
        entry.setup = None
        setup.result()  # its error, for the first decisions that waited on it

    async def _acall(
        self, entry: _LoopClient, keys: Sequence[str], args: Sequence[str | int]
    ) -> Any:
        await entry.acquire(self.timeout)
        try:
            if self.breaker.blocked():  # opened while we queued: do not try
                raise Unavailable("breaker open")
            call = asyncio.ensure_future(entry.script(keys=keys, args=args, client=entry.client))
            try:
                answered = await _wait(call, self.timeout)
            finally:
                if not call.done():
                    # redis-py drops the connection it was reading; wait for
                    # that, so the next in line never finds it still taken.
                    call.cancel()
                    await asyncio.wait((call,))
            if not answered:
                raise TimeoutError(f"no reply from Redis in {self.timeout} s")
            reply = call.result()
            entry.progress = asyncio.get_running_loop().time()
            return reply
        finally:
            entry.release()

    def close(self) -> None:
        pair, self._sync = self._sync, None
        if pair is not None:
            for client in [pair[0], *getattr(pair[0], "opskit_sentinels", ())]:
                try:
                    client.close()
                except Exception:  # pragma: no cover - closing a dead client
                    pass
        if len(self._loops):
            _retired.append(self)  # async clients close on their own loop

    async def aclose(self) -> None:
        """Close this event loop's async client (ASGI shutdown, tests)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        entry = self._loops.pop(loop, None)
        if entry is not None:
            for client in [entry.client, *getattr(entry.client, "opskit_sentinels", ())]:
                await client.aclose()


#: Backends replaced by a settings reload whose async clients are still open.
_retired: list[RedisBackend] = []


async def aclose_all(current: Backend | None = None) -> None:
    """Close the running loop's async clients of ``current`` and retired backends."""
    for backend in [*_retired, current]:
        if isinstance(backend, RedisBackend):
            await backend.aclose()
    _retired[:] = [b for b in _retired if len(b._loops)]


class CacheBackend(Backend):
    """The same algorithm on Django's cache API, for development and tests.

    It reads and writes in two steps on the local clock, so it is exact only
    within one process; system check ``opskit.W301`` says so for LocMem,
    Dummy, file and database caches.
    """

    def __init__(self, alias: str, breaker: Breaker) -> None:
        self.alias = alias
        self.name = f"cache:{alias}"
        self.breaker = breaker
        self._lock = threading.Lock()

    def evaluate(self, keys: Sequence[str], args: Sequence[str | int]) -> Reply:
        from django.core.cache import caches

        cache = caches[self.alias]
        with self._lock:  # exact within a process at least
            now = int(time.time() * 1_000_000)
            cost = int(args[0])
            stored = cache.get_many(list(keys))
            out: list[int] = [1, now]
            writes: list[tuple[str, Any, float]] = []
            ok = True
            for i, key in enumerate(keys):
                mode, a, b = args[3 * i + 1], int(args[3 * i + 2]), int(args[3 * i + 3])
                if mode == "g":
                    tat = max(int(stored.get(key) or 0), now)
                    new = tat + cost * a
                    ahead = new - now
                    if ahead <= b:
                        out += [(b - ahead) // a, ahead, 0]
                        writes.append((key, new, ahead))
                    else:
                        ok = False
                        out += [max(0, (b - (tat - now)) // a), tat - now, ahead - b]
                else:
                    log = [ts for ts in (stored.get(key) or []) if ts > now - a]
                    if len(log) + cost <= b:
                        out += [b - len(log) - cost, a, 0]
                        start = max(now, log[-1] + 1) if log else now
                        writes.append((key, [*log, *range(start, start + cost)], a))
                    else:
                        ok = False
                        k = len(log) + cost - b
                        retry = a if k > len(log) else log[k - 1] + a - now
                        out += [max(0, b - len(log)), log[-1] + a - now if log else a, retry]
            if ok:
                for key, value, ttl in writes:
                    cache.set(key, value, timeout=math.ceil(ttl / 1_000_000) + 1)
            else:
                out[0] = 0
                for key, _value, ttl in writes:
                    i = keys.index(key)
                    out[2 + 3 * i] += cost
                    if args[3 * i + 1] == "g":
                        out[3 + 3 * i] = int(ttl) - cost * int(args[3 * i + 2])
        return out

    async def aevaluate(self, keys: Sequence[str], args: Sequence[str | int]) -> Reply:
        # Development backend: the in-process caches it is meant for answer
        # in microseconds, so it is called directly rather than through a
        # thread hop.
        return self.evaluate(keys, args)
