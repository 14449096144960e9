"""One set of tests, run against every Redis topology the limiter supports.

Each test runs three times: a private single node, the session's 3-master
Cluster and its Sentinel group (1 master, 1 replica, 3 sentinels), all real
servers started by ``tests/support/redis_topology.py``.  Fault tests freeze,
stop and restart those private servers, never the shared Redis.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from typing import Any

import pytest
from django.test import Client

from opskit.ratelimit import Limiter
from opskit.ratelimit.backends import ASYNC_CONNECTIONS
from opskit.ratelimit.core import get_backend

from ..support.timing import SLACK
from .conftest import Topology, rl_settings

pytestmark = [pytest.mark.redis, pytest.mark.urls("tests.ratelimit.urls")]

#: Faults: a short timeout and breaker so each test stays within seconds.
TIMEOUT = 0.25
THRESHOLD = 3
COOLDOWN = 0.5
#: A burst on one loop: queued in turns, they would wait BURST / 2 timeouts.
BURST = 40
#: Commands the decision script runs inside Redis (counted by INFO, not sent).
SCRIPT_COMMANDS = frozenset(
    {"time", "get", "set", "zremrangebyscore", "zcard", "zrange", "zadd", "pexpire"}
)
#: What reaches a Sentinel group's master on other clients' schedule: the
#: sentinels' PING, INFO and hello PUBLISH, the replica's REPLCONF ACK.
BACKGROUND_COMMANDS = frozenset({"ping", "info", "publish", "replconf"})


def _faults(settings: Any, topology: Topology, **kw: Any) -> None:
    prefix = settings.OPSKIT["RATELIMIT"]["KEY_PREFIX"]
    settings.OPSKIT = rl_settings(
        KEY_PREFIX=prefix,
        CACHE=topology.alias,
        TOPOLOGY="cluster" if topology.kind == "cluster" else "auto",
        SOCKET_TIMEOUT=TIMEOUT,
        BREAKER_THRESHOLD=THRESHOLD,
        BREAKER_COOLDOWN=COOLDOWN,
        **kw,
    )


def _key_of(limiter: Limiter, ident: str, prefix: str) -> str:
    return limiter.keys(ident, prefix)[0]


def _count_tries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each time a decision tries Redis, a line: the breaker's fast path adds none."""
    backend = get_backend()
    tries: list[str] = []
    evaluate, aevaluate = backend.evaluate, backend.aevaluate

    def counted(keys: Any, args: Any) -> Any:
        tries.append("sync")
        return evaluate(keys, args)

    async def acounted(keys: Any, args: Any) -> Any:
        tries.append("async")
        return await aevaluate(keys, args)

    monkeypatch.setattr(backend, "evaluate", counted)
    monkeypatch.setattr(backend, "aevaluate", acounted)
    return tries


def _calls(server: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in server.cli("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line.partition(":")
            out[name[8:]] = int(rest.split(",")[0].split("=")[1])
    return out


def _connections(server: Any) -> int:
    """Clients connected to ``server``, ``redis-cli``'s own excluded."""
    return sum(
        1 for line in server.cli("CLIENT", "LIST").splitlines() if "cmd=client|list" not in line
    )


async def _awarm(limiter: Limiter) -> Any:
    """The first async decision: connect (a Cluster client reads the slot map first).

    With the fault tests' short timeout a loaded machine may need more than
    one try; the tests are about what follows.
    """
    deadline = time.monotonic() + 10
    while (d := await limiter.adecide("k")).outcome != "allowed":
        assert time.monotonic() < deadline, d.error
        await asyncio.sleep(0.05)
    return d


class TestEveryTopology:
    def test_one_round_trip_per_decision(self, topology: Topology, rl_prefix: str) -> None:
        limiter = Limiter("3/m;100/h", scope=f"rt-{uuid.uuid4().hex}")
        assert limiter.decide("k").outcome == "allowed"  # connects, loads the script
        server = topology.server_for(_key_of(limiter, "k", rl_prefix))
        before = _calls(server)
        outcomes = [limiter.decide("k").outcome for _ in range(4)]
        after = _calls(server)
        assert outcomes == ["allowed", "allowed", "limited", "limited"]
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        # Two limits, four decisions: four EVALSHA and nothing else from the
        # client (the script's own TIME/GET/SET are counted too, not sent;
        # INFO is our own counting, and a Sentinel master hears its group).
        others = BACKGROUND_COMMANDS if topology.kind == "sentinel" else {"info"}
        sent = {
            k: v for k, v in delta.items() if v and k not in SCRIPT_COMMANDS and k not in others
        }
        assert sent == {"evalsha": 4}

    def test_threads_on_one_key_admit_exactly_the_quota(self, topology: Topology) -> None:
        limiter = Limiter("100/h", scope=f"exact-{uuid.uuid4().hex}")
        outcomes: list[str] = []
        barrier = threading.Barrier(8)

        def run() -> None:
            barrier.wait()
            got = [limiter.decide("one-key").outcome for _ in range(25)]
            outcomes.extend(got)

        threads = [threading.Thread(target=run) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(set(outcomes)) == ["allowed", "limited"]
        assert outcomes.count("allowed") == 100 and outcomes.count("limited") == 100

    async def test_async_gather_on_one_loop_admits_exactly_the_quota(
        self, topology: Topology
    ) -> None:
        limiter = Limiter("30/h", scope=f"aexact-{uuid.uuid4().hex}")
        decisions = await asyncio.gather(*(limiter.adecide("k") for _ in range(60)))
        assert [d.outcome for d in decisions].count("allowed") == 30
        remaining = sorted(d.limits[0].remaining for d in decisions if d.allowed)
        assert remaining == list(range(30))

    def test_script_loaded_again_after_script_flush(self, topology: Topology) -> None:
        limiter = Limiter("5/m", scope=f"flush-{uuid.uuid4().hex}")
        assert limiter.decide("k").limits[0].remaining == 4
        for server in topology.servers:
            server.cli("SCRIPT", "FLUSH")
        d = limiter.decide("k")
        assert d.outcome == "allowed" and d.limits[0].remaining == 3
        assert not get_backend().breaker.failures

    def test_frozen_redis_costs_one_timeout_then_nothing(
        self,
        topology: Topology,
        settings: Any,
        rl_prefix: str,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        _faults(settings, topology)
        limiter = Limiter("100/m", scope=f"frozen-{uuid.uuid4().hex}")
        assert limiter.decide("k").outcome == "allowed"
        server = topology.server_for(_key_of(limiter, "k", rl_prefix))
        caplog.set_level(logging.WARNING, logger="opskit.ratelimit")
        server.freeze()
        try:
            waits = []
            for _ in range(THRESHOLD):
                t0 = time.perf_counter()
                d = limiter.decide("k")
                waits.append(time.perf_counter() - t0)
                assert (d.outcome, d.allowed) == ("error", True)
            # Each at most the timeout (plus a loaded machine's scheduling).
            assert max(waits) < TIMEOUT + SLACK, waits
            assert get_backend().breaker.is_open
            tries = _count_tries(monkeypatch)
            later = [limiter.decide("k") for _ in range(200)]
            assert {d.error for d in later} == {"breaker open"}
            assert tries == []  # none of them waited on Redis
            r = Client().get("/closed/", REMOTE_ADDR="192.0.2.77")
            assert r.status_code == 503  # fail closed: an answer, never a 500
        finally:
            server.thaw()
        thawed = time.monotonic()
        while limiter.decide("k").outcome != "allowed":
            assert time.monotonic() - thawed < COOLDOWN + 3 * SLACK
            time.sleep(0.05)
        downs = [r for r in caplog.records if getattr(r, "event", "") == "ratelimit.backend_down"]
        assert len(downs) == 1
        # The failures before the breaker opened said why, once (per kind a minute).
        said = [r for r in caplog.records if getattr(r, "event", "") == "ratelimit.decision_failed"]
        assert [(r.levelname, r.error_type) for r in said] == [("WARNING", "TimeoutError")]
        assert said[0].error and f"1 of {THRESHOLD} failures" in said[0].getMessage()

    async def test_frozen_redis_async(
        self, topology: Topology, settings: Any, rl_prefix: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _faults(settings, topology)
        limiter = Limiter("100/m", scope=f"afrozen-{uuid.uuid4().hex}")
        await _awarm(limiter)
        server = topology.server_for(_key_of(limiter, "k", rl_prefix))
        server.freeze()
        try:
            t0 = time.perf_counter()
            # Concurrent decisions on one loop share one deadline each.
            first = await asyncio.gather(*(limiter.adecide("k") for _ in range(THRESHOLD)))
            assert time.perf_counter() - t0 < TIMEOUT + SLACK
            assert {(d.outcome, d.allowed) for d in first} == {("error", True)}
            tries = _count_tries(monkeypatch)
            for _ in range(200):
                assert (await limiter.adecide("k")).error == "breaker open"
            assert tries == []  # none of them waited on Redis
        finally:
            server.thaw()
        await asyncio.sleep(COOLDOWN + 0.1)
        assert (await limiter.adecide("k")).outcome == "allowed"

    async def test_a_loops_connections_open_with_its_first_decision(
        self, topology: Topology
    ) -> None:
        """Every data node gets the loop's connections up front, not one by one in bursts.

        Opened lazily, a burst's second connection (on a Cluster, each
        node's) paid redis-py's handshake inside a decision's deadline.
        """
        before = [_connections(server) for server in topology.servers]
        await _awarm(Limiter("100/h", scope=f"open-{uuid.uuid4().hex}"))
        after = [_connections(server) for server in topology.servers]
        try:
            assert all(b - a >= ASYNC_CONNECTIONS for a, b in zip(before, after, strict=True)), (
                before,
                after,
            )
        finally:
            await get_backend().aclose()

    @pytest.mark.parametrize("stall", [2, 3])
    async def test_a_starved_event_loop_keeps_the_reply_that_came(
        self, topology: Topology, settings: Any, stall: int
    ) -> None:
        """A process that waits for the CPU longer than the timeout is not a dead Redis.

        On a busy host the event loop can be descheduled while Redis answers
        in microseconds.  When it runs again the reply is in the socket and
        the deadline has passed in the same loop turn: the reply wins.
        """
        _faults(settings, topology)
        limiter = Limiter("100/h", scope=f"starved-{uuid.uuid4().hex}")
        first = await _awarm(limiter)
        loop = asyncio.get_running_loop()
        for n in range(3):
            # Runs as soon as the decision waits for its reply: holds the loop
            # (and so this process) past the deadline.
            loop.call_soon(time.sleep, TIMEOUT * stall)
            d = await limiter.adecide("k")
            assert (d.outcome, d.error) == ("allowed", None), n
            assert d.limits[0].remaining == first.limits[0].remaining - 1 - n  # counted once each
        assert not get_backend().breaker.failures

    async def test_a_hung_redis_fails_queued_decisions_within_the_timeout(
        self, topology: Topology, settings: Any, rl_prefix: str
    ) -> None:
        _faults(settings, topology)
        settings.OPSKIT = rl_settings(**{**settings.OPSKIT["RATELIMIT"], "BREAKER_THRESHOLD": 100})
        limiter = Limiter("100/m", scope=f"hungq-{uuid.uuid4().hex}")
        await _awarm(limiter)
        for server in topology.servers:
            server.freeze()
        try:
            t0 = time.perf_counter()
            burst = await asyncio.gather(*(limiter.adecide("k") for _ in range(BURST)))
            took = time.perf_counter() - t0
        finally:
            for server in topology.servers:
                server.thaw()
        assert {(d.outcome, d.error) for d in burst} == {("error", "TimeoutError")}
        # Queued ones too: one timeout (moved once if this busy process
        # reached it late), not BURST / 2 turns of it on the loop's 2 connections.
        assert took < 2 * TIMEOUT + SLACK < BURST / 2 * TIMEOUT
        assert get_backend().breaker.failures == BURST

    def test_stopped_then_restarted(
        self, topology: Topology, settings: Any, rl_prefix: str
    ) -> None:
        _faults(settings, topology)
        limiter = Limiter("100/m", scope=f"stopped-{uuid.uuid4().hex}")
        assert limiter.decide("k").outcome == "allowed"
        server = topology.server_for(_key_of(limiter, "k", rl_prefix))
        server.stop()
        try:
            t0 = time.perf_counter()
            d = limiter.decide("k")
            assert d.outcome == "error" and d.allowed
            assert time.perf_counter() - t0 < TIMEOUT + SLACK
            r = Client().get("/open/", REMOTE_ADDR="192.0.2.78")
            assert r.status_code == 200  # fail open: admitted, never a 500
            if topology.kind != "cluster":  # (on a Cluster it may hash to a live node)
                assert r.json()["outcome"] == "error"
        finally:
            server.start()  # same port; a Cluster node rejoins from nodes.conf
        if topology.cluster is not None:
            topology.cluster.wait_ok()  # the servers' business, not the limiter's
        started = time.monotonic()
        while (d := limiter.decide("k")).outcome != "allowed":
            assert time.monotonic() - started < COOLDOWN + 3 * SLACK, d.error
            time.sleep(0.05)
        # A single node or master restarted empty; the script is loaded again.
        assert d.limits[0].remaining in (98, 99)
