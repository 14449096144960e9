"""Where the counters live: Redis (one Lua script, one round trip) or Django's cache.

The Redis path is the production path.  It reaches the server configured for a
django-redis cache alias, but through its *own* small connection pool built
from that alias's connection settings: a short socket timeout (``SOCKET_TIMEOUT``,
50 ms by default), no retries and no ``CLIENT SETINFO`` handshake.  The cache's
own client keeps its long timeouts for the application; the limiter must never
stall a request for seconds because Redis hangs.  A circuit breaker in front of
it turns a dead Redis into one short timeout, then about 0 ms per decision
until the cooldown has passed and one trial decision succeeds.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any

try:  # optional: only the "redis" backend needs redis-py
    from redis.exceptions import NoScriptError, ResponseError
except ImportError:  # pragma: no cover - the "cache" backend still works

    class NoScriptError(Exception):  # type: ignore[no-redef]
        pass

    class ResponseError(Exception):  # type: ignore[no-redef]
        pass


__all__ = [
    "GCRA_SCRIPT",
    "Backend",
    "Breaker",
    "CacheBackend",
    "RedisBackend",
    "Unavailable",
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
_EVALSHA = b"$7\r\nEVALSHA\r\n$40\r\n" + SCRIPT_SHA.encode() + b"\r\n"
_EVAL = b"$4\r\nEVAL\r\n" + b"$%d\r\n%s\r\n" % (len(GCRA_SCRIPT.encode()), GCRA_SCRIPT.encode())


def _bulk(value: str | int) -> bytes:
    data = str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _frame(keys: Sequence[str], args: Sequence[str | int]) -> tuple[bytes, bytes, bytes]:
    """The fixed parts of a call: EVALSHA and EVAL heads (count, sha or body, numkeys), tail."""
    count = b"*%d\r\n" % (3 + len(keys) + len(args))
    nkeys = _bulk(len(keys))
    return count + _EVALSHA + nkeys, count + _EVAL + nkeys, b"".join(map(_bulk, args))


def _packed(head: bytes, keys: Sequence[str], tail: bytes) -> bytes:
    parts = [head]
    for key in keys:
        data = key.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    parts.append(tail)
    return b"".join(parts)


def _parse(reply: bytes | str) -> Reply:
    return list(map(int, reply.split()))


Reply = list[int]
#: Decisions in flight per event loop (and so connections); more wait.
ASYNC_CONNECTIONS = 16


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
            was_open = self.open_until is not None
            if self.failures >= self.threshold:
                self.open_until = time.monotonic() + self.cooldown
                self.trial_started = 0.0
        if not was_open and self.open_until is not None:
            logger.error(
                "rate limiter backend %s failed (%s); breaker open for %.1f s",
                self.name,
                type(exc).__name__,
                self.cooldown,
                extra={
                    "event": "ratelimit.backend_down",
                    "backend": self.name,
                    "error_type": type(exc).__name__,
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


_SYNC_TO_ASYNC_CLASS = {
    "Connection": "Connection",
    "SSLConnection": "SSLConnection",
    "UnixDomainSocketConnection": "UnixDomainSocketConnection",
}


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
        "encoding",
        "encoding_errors",
        "decode_responses",
    }
)


def _fit(cls: type[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keep the arguments ``cls`` takes; turn off the ``CLIENT SETINFO`` handshake."""
    accepted: set[str] = set()
    for base in cls.__mro__:
        if "__init__" in base.__dict__:
            try:
                accepted |= set(inspect.signature(base.__dict__["__init__"]).parameters)
            except (TypeError, ValueError):
                pass
    fitted = {k: v for k, v in kwargs.items() if k in accepted}
    if "driver_info" in accepted:
        fitted["driver_info"] = None  # redis-py >= 7.1: None skips SETINFO
    elif "lib_name" in accepted:
        fitted["lib_name"] = None
        fitted["lib_version"] = None
    return fitted


#: Python 3.11+: a cancellation we request can be told from the caller's.
_UNCANCEL = hasattr(asyncio.Task, "uncancel")


async def _exchange(conn: Any, keys: Sequence[str], sha: bytes, body: bytes, tail: bytes) -> Any:
    await conn.send_packed_command([_packed(sha, keys, tail)], False)
    try:
        return await conn.read_response()
    except NoScriptError:
        await conn.send_packed_command([_packed(body, keys, tail)], False)
        return await conn.read_response()


class _Watch:
    """One decision in flight: its deadline and the task to stop past it."""

    __slots__ = ("deadline", "expired", "task")

    def __init__(self, deadline: float, task: asyncio.Task[Any]) -> None:
        self.deadline = deadline
        self.task = task
        self.expired = False


class _LoopConnections:
    """Idle async connections of one event loop, the in-flight gate, the watchdog.

    The watchdog replaces a timer per decision (``asyncio.timeout`` or
    redis-py's ``socket_timeout``, which adds a task per send): one loop timer
    at the earliest deadline in flight, re-armed only when it fires, so a
    steady stream of decisions arms about one timer per ``SOCKET_TIMEOUT``.
    A decision past its deadline has its task cancelled, as ``asyncio.timeout``
    would, and reports ``TimeoutError``.
    """

    def __init__(self, cls: type[Any], kwargs: dict[str, Any]) -> None:
        self.cls = cls
        self.kwargs = kwargs
        self.idle: list[Any] = []
        # A burst of coroutines must not open hundreds of sockets at once
        # and then miss the short timeout because the loop is busy: at most
        # ASYNC_CONNECTIONS decisions in flight, the others queue in order.
        # (A free slot is taken without an await; asyncio.Semaphore costs
        # two coroutine calls per decision.)
        self.free = ASYNC_CONNECTIONS
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.inflight: set[_Watch] = set()
        #: When the armed watchdog timer fires (None: not armed).  No handle
        #: is kept: it would tie this entry to its loop and keep both alive.
        self.armed: float | None = None

    async def wait_slot(self, loop: asyncio.AbstractEventLoop) -> None:
        """Queue for a slot; :meth:`release` hands one over directly."""
        fut: asyncio.Future[None] = loop.create_future()
        self.waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # handed a slot, then cancelled: pass it on
            raise

    def release(self) -> None:
        waiters = self.waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.free += 1

    def watch(self, loop: asyncio.AbstractEventLoop, timeout: float) -> _Watch:
        task = asyncio.current_task(loop)
        assert task is not None
        watch = _Watch(loop.time() + timeout, task)
        self.inflight.add(watch)
        armed = self.armed
        if armed is None or armed > watch.deadline:
            self.armed = watch.deadline
            loop.call_at(watch.deadline, self._fire, loop)
        return watch

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.armed is None or self.armed > loop.time() + 0.001:
            return  # superseded by an earlier timer (a shorter SOCKET_TIMEOUT)
        self.armed = None
        now = loop.time()
        soonest: float | None = None
        for watch in self.inflight:
            if watch.deadline <= now:
                if not watch.expired:
                    # Delivered at the task's pending await, which is inside
                    # aevaluate's exchange: the watch is registered only there.
                    watch.expired = True
                    watch.task.cancel()
            elif soonest is None or watch.deadline < soonest:
                soonest = watch.deadline
        if soonest is not None:
            self.armed = soonest
            loop.call_at(soonest, self._fire, loop)


class RedisBackend(Backend):
    """The limiter's own short-timeout, no-retry path to a django-redis alias."""

    def __init__(self, alias: str, timeout: float, breaker: Breaker) -> None:
        self.alias = alias
        self.name = f"redis:{alias}"
        self.timeout = timeout
        self.breaker = breaker
        self._idle: list[Any] = []
        self._pid = os.getpid()
        self._factory: tuple[type[Any], dict[str, Any]] | None = None
        self._frames: dict[tuple[int, tuple[str | int, ...]], tuple[bytes, bytes, bytes]] = {}
        self._apools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopConnections] = (
            weakref.WeakKeyDictionary()
        )
        #: The last loop's entry (a weak reference: no loop kept alive).
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], _LoopConnections] | None = None
        self._lock = threading.Lock()
        #: The alias is a Sentinel pool: resolve the master per new connection.
        self._sentinel = False

    def _kwargs(self) -> tuple[type[Any], dict[str, Any]]:
        from django_redis import get_redis_connection  # type: ignore[import-untyped]

        base = get_redis_connection(self.alias)
        pool = base.connection_pool
        # Only where and who: the alias's timeouts, retries and extras
        # (maintenance notifications, client-side caching) are not ours.
        kwargs = {
            k: v for k, v in pool.connection_kwargs.items() if k in _CARRIED or k.startswith("ssl_")
        }
        kwargs.update(
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            health_check_interval=0,
        )
        cls = pool.connection_class
        master = getattr(pool, "get_master_address", None)
        if master is not None:
            # Redis Sentinel: a managed connection needs its sentinel pool,
            # so talk to the current master directly, asking the sentinels
            # for its address whenever a new connection is made (after a
            # failover the old master's connections fail and are dropped).
            from redis.connection import Connection, SSLConnection

            kwargs["host"], kwargs["port"] = master()
            cls = SSLConnection if "SSL" in cls.__name__ else Connection
            self._sentinel = True
        return cls, kwargs

    def _master_address(self) -> tuple[str, int]:
        """The Sentinel group's current master (a round trip to a sentinel)."""
        from django_redis import get_redis_connection

        host, port = get_redis_connection(self.alias).connection_pool.get_master_address()
        return host, int(port)

    def apool(self, loop: asyncio.AbstractEventLoop | None = None) -> _LoopConnections:
        """This event loop's idle connections (asyncio sockets belong to one loop)."""
        if loop is None:
            loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]  # the usual case: one loop per process or thread
        entry = self._apools.get(loop)
        if entry is None:
            from redis.asyncio import connection as aconn
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            cls, kwargs = self._kwargs()
            acls = getattr(aconn, _SYNC_TO_ASYNC_CLASS.get(cls.__name__, "Connection"))
            # No per-operation timeout: redis-py would wrap each send in
            # asyncio.wait_for (a task) and each read in a timer.  The
            # loop's watchdog bounds the whole exchange instead.
            kwargs = dict(_fit(acls, kwargs), retry=Retry(NoBackoff(), 0), socket_timeout=None)
            entry = self._apools[loop] = _LoopConnections(acls, kwargs)
        self._last = (weakref.ref(loop), entry)
        return entry

    def _frame(self, keys: Sequence[str], args: Sequence[str | int]) -> tuple[bytes, bytes, bytes]:
        """Precomputed per limiter shape: only the keys are packed per decision."""
        key = (len(keys), tuple(args))
        frame = self._frames.get(key)
        if frame is None:
            frame = self._frames[key] = _frame(keys, args)
        return frame

    def _connection(self) -> Any:
        if self._pid != os.getpid():  # forked: never share a socket
            self._idle = []
            self._pid = os.getpid()
        try:
            return self._idle.pop()
        except IndexError:
            pass
        factory = self._factory
        if factory is None or self._sentinel:
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            cls, kwargs = self._kwargs()
            kwargs = _fit(cls, kwargs)
            factory = self._factory = (cls, dict(kwargs, retry=Retry(NoBackoff(), 0)))
        return factory[0](**factory[1])

    def evaluate(self, keys: Sequence[str], args: Sequence[str | int]) -> Reply:
        # A LIFO of idle connections (one per thread in use at once) instead
        # of redis-py's pool: no lock, pid check or poll per decision.
        conn = self._connection()
        sha, body, tail = self._frame(keys, args)
        try:
            conn.send_packed_command([_packed(sha, keys, tail)], False)
            try:
                reply = conn.read_response()
            except NoScriptError:
                # First use on this server (or after SCRIPT FLUSH / a restart):
                # EVAL runs it and caches it for every later EVALSHA.
                conn.send_packed_command([_packed(body, keys, tail)], False)
                reply = conn.read_response()
        except ResponseError:
            self._idle.append(conn)
            raise
        except BaseException:
            conn.disconnect()
            raise
        self._idle.append(conn)
        return _parse(reply)

    async def aevaluate(self, keys: Sequence[str], args: Sequence[str | int]) -> Reply:
        loop = asyncio.get_running_loop()
        state = self.apool(loop)
        # The wait for a slot is not the backend's fault and is not timed.
        if state.free:
            state.free -= 1
        else:
            await state.wait_slot(loop)
        try:
            # If the breaker opened while we queued, do not try Redis.
            if self.breaker.blocked():
                raise Unavailable("breaker open")
            idle = state.idle
            if idle:
                conn = idle.pop()
            else:
                if self._sentinel:  # the master may have moved: ask again
                    state.kwargs["host"], state.kwargs["port"] = self._master_address()
                conn = state.cls(**state.kwargs)
            sha, body, tail = self._frame(keys, args)
            if not _UNCANCEL:  # Python 3.10: a timer per decision
                try:
                    reply = await asyncio.wait_for(
                        _exchange(conn, keys, sha, body, tail), self.timeout
                    )
                except ResponseError:
                    idle.append(conn)
                    raise
                except BaseException:
                    await conn.disconnect(nowait=True)
                    raise
                idle.append(conn)
                return _parse(reply)
            inflight = state.inflight
            watch = state.watch(loop, self.timeout)
            try:
                await conn.send_packed_command([_packed(sha, keys, tail)], False)
                try:
                    reply = await conn.read_response()
                except NoScriptError:
                    # First use on this server: EVAL runs and caches it.
                    await conn.send_packed_command([_packed(body, keys, tail)], False)
                    reply = await conn.read_response()
            except ResponseError:
                inflight.discard(watch)
                idle.append(conn)
                raise
            except asyncio.CancelledError:
                inflight.discard(watch)
                # Cancelled mid-exchange, by the watchdog or the caller: an
                # unread reply may follow, so this socket is never reused.
                await conn.disconnect(nowait=True)
                if watch.expired and watch.task.uncancel() == 0:  # type: ignore[attr-defined]
                    raise TimeoutError("rate limiter backend timed out") from None
                raise
            except BaseException:
                inflight.discard(watch)
                await conn.disconnect(nowait=True)
                raise
            inflight.discard(watch)
            idle.append(conn)
            return _parse(reply)
        finally:
            state.release()

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.disconnect()
        if self._apools:
            _retired.append(self)  # async pools close on their own loop

    async def aclose(self) -> None:
        """Close this event loop's pool (ASGI shutdown, tests)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._last = None
        entry = self._apools.pop(loop, None)
        if entry is not None:
            idle, entry.idle = entry.idle, []
            for conn in idle:
                await conn.disconnect()


#: Backends replaced by a settings reload whose async pools are still open.
_retired: list[RedisBackend] = []


async def aclose_all(current: Backend | None = None) -> None:
    """Close the running loop's async pools of ``current`` and retired backends."""
    for backend in [*_retired, current]:
        if isinstance(backend, RedisBackend):
            await backend.aclose()
    _retired[:] = [b for b in _retired if b._apools]


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
