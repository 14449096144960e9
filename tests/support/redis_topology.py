"""Private Redis servers for tests: a single node, a 3-master Cluster, a Sentinel group.

Every server listens on 127.0.0.1 on a free port, keeps its files in a
temporary directory and is killed by ``stop()`` (also after a ``freeze()``).
Fault tests stop, freeze and kill these, never the shared Redis.

The API other test areas rely on::

    RedisServer(*extra_args)   .start() .stop() .freeze() .thaw() .restart()
                               .host .port .address .url .cli(*args) -> str
    RedisCluster(masters=3)    .start() .stop() .nodes -> [(host, port)]
                               .servers -> [RedisServer] .url .wait_ok()
                               .node_for(key) -> RedisServer
                               .cache_settings(**options) -> django-redis CACHES entry
    SentinelGroup()            .start() .stop() .kill_master() -> new (host, port)
                               .sentinels -> [(host, port)] .service_name
                               .master -> (host, port) .master_server .replica_server
                               .cache_settings(**options) -> django-redis CACHES entry

All three are context managers (``with RedisCluster() as cluster: ...``).
Session fixtures ``redis_cluster`` and ``sentinel_group`` wrap the last two
(``from tests.support.redis_topology import redis_cluster`` in a conftest).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import pytest

from .net import free_port

__all__ = [
    "RedisCluster",
    "RedisServer",
    "SentinelGroup",
    "free_port",
    "redis_cluster",
    "sentinel_group",
]

HOST = "127.0.0.1"


def _redis_server() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    return path


def _redis_cli() -> str:
    path = shutil.which("redis-cli")
    if path is None:
        raise RuntimeError("redis-cli is not installed (apt-get install redis-tools)")
    return path


def _ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait(what: str, ready: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


class _Managed:
    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RedisServer(_Managed):
    """One redis-server of our own, to stop, freeze and restart."""

    def __init__(self, *extra_args: str, port: int | None = None, sentinel: bool = False) -> None:
        self.host = HOST
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="opskit-redis-")
        self.extra_args = list(extra_args)
        self.sentinel = sentinel
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _argv(self) -> list[str]:
        if self.sentinel:
            conf = os.path.join(self.dir, "sentinel.conf")
            if not os.path.exists(conf):
                with open(conf, "w") as f:
                    f.write("\n".join(self.extra_args) + "\n")
            return [_redis_server(), conf, "--sentinel", "--port", str(self.port)]
        return [
            _redis_server(),
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.dir,
            *self.extra_args,
        ]

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self._argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait(f"redis-server on port {self.port}", lambda: _ping(self.port))

    def stop(self) -> None:
        """Kill it (a frozen server too); its directory stays until :meth:`cleanup`."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: the socket accepts, nothing answers (a hung Redis)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def cli(self, *args: str) -> str:
        """``redis-cli`` against this server; its stdout."""
        return subprocess.run(
            [_redis_cli(), "-h", self.host, "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


class RedisCluster(_Managed):
    """A Redis Cluster of ``masters`` primaries (no replicas), all slots assigned."""

    def __init__(self, masters: int = 3) -> None:
        self.servers = [
            RedisServer(
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
                # An explicit bus port: the default (port + 10000) may be taken.
                "--cluster-port",
                str(free_port()),
            )
            for _ in range(masters)
        ]

    @property
    def nodes(self) -> list[tuple[str, int]]:
        return [s.address for s in self.servers]

    @property
    def url(self) -> str:
        """The first node's URL (a cluster client discovers the others)."""
        return self.servers[0].url

    def start(self) -> None:
        for server in self.servers:
            server.start()
        subprocess.run(
            [
                _redis_cli(),
                "--cluster",
                "create",
                *(f"{h}:{p}" for h, p in self.nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            check=True,
            timeout=30,
        )
        self.wait_ok()

    def wait_ok(self, timeout: float = 20.0) -> None:
        """Until every node reports ``cluster_state:ok`` (after a node restart too)."""
        _wait("cluster_state:ok on every node", self._ok, timeout=timeout)

    def _ok(self) -> bool:
        for server in self.servers:
            if "cluster_state:ok" not in server.cli("CLUSTER", "INFO"):
                return False
        # Every node knows every other one (the gossip has converged).
        return all(
            server.cli("CLUSTER", "NODES").count("master") >= len(self.servers)
            for server in self.servers
        )

    def node_for(self, key: str) -> RedisServer:
        """The server owning ``key``'s slot."""
        slot = int(self.servers[0].cli("CLUSTER", "KEYSLOT", key).strip())
        for line in self.servers[0].cli("CLUSTER", "NODES").splitlines():
            fields = line.split()
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            for part in fields[8:]:
                lo, _, hi = part.partition("-")
                if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                    return next(s for s in self.servers if s.port == port)
        raise LookupError(f"no node serves slot {slot}")

    def cache_settings(self, **options: Any) -> dict[str, Any]:
        """A django-redis ``CACHES`` entry naming every node (``LOCATION`` list)."""
        return {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": [s.url for s in self.servers],
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient", **options},
        }

    def stop(self) -> None:
        for server in self.servers:
            server.cleanup()


class SentinelGroup(_Managed):
    """One master, one replica and three sentinels (quorum 2), fast failover.

    ``service_name`` is unique per group: django-redis keeps connection pools
    per URL for the whole process, and ``redis://<service>/0`` is that URL.
    """

    def __init__(self, down_after_ms: int = 1000) -> None:
        # Diskless, undelayed first sync: the replica is up in milliseconds.
        fast_sync = ("--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0")
        self.master_server = RedisServer(*fast_sync)
        self.replica_server = RedisServer(
            *fast_sync, "--replicaof", HOST, str(self.master_server.port)
        )
        self.service_name = f"opskit{self.master_server.port}"
        conf = [
            f"bind {HOST}",
            f"sentinel monitor {self.service_name} {HOST} {self.master_server.port} 2",
            f"sentinel down-after-milliseconds {self.service_name} {down_after_ms}",
            f"sentinel failover-timeout {self.service_name} 5000",
            f"sentinel parallel-syncs {self.service_name} 1",
            # Known from the start: no wait for the master's next INFO.
            f"sentinel known-replica {self.service_name} {HOST} {self.replica_server.port}",
        ]
        self.sentinel_servers = [RedisServer(*conf, sentinel=True) for _ in range(3)]
        self._old: list[RedisServer] = []

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [s.address for s in self.sentinel_servers]

    @property
    def master(self) -> tuple[str, int]:
        """The master's address as the first live sentinel reports it."""
        for s in self.sentinel_servers:
            try:
                out = s.cli("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service_name).split()
            except subprocess.CalledProcessError:
                continue
            if len(out) == 2:
                return (out[0], int(out[1]))
        raise LookupError("no sentinel names a master")

    def start(self) -> None:
        self.master_server.start()
        self.replica_server.start()
        _wait(
            "the replica's first sync",
            lambda: "master_link_status:up" in self.replica_server.cli("INFO", "replication"),
        )
        for s in self.sentinel_servers:
            s.start()
        _wait("the sentinels to agree", self._ready, timeout=20)

    def _ready(self) -> bool:
        for s in self.sentinel_servers:
            info = s.cli("SENTINEL", "MASTER", self.service_name).split()
            fields = dict(zip(info[::2], info[1::2], strict=False))
            if fields.get("flags") != "master":
                return False
            if fields.get("num-slaves") != "1" or fields.get("num-other-sentinels") != "2":
                return False
        return True

    def kill_master(self, timeout: float = 20.0) -> tuple[str, int]:
        """Kill the master process; return the promoted replica's address."""
        old = self.master
        self.master_server.stop()
        _wait("a failover", lambda: self._promoted(old), timeout=timeout)
        self.master_server, self.replica_server = self.replica_server, self.master_server
        return self.master

    def _promoted(self, old: tuple[str, int]) -> bool:
        try:
            new = self.master
        except LookupError:
            return False
        if new == old:
            return False
        role = self.replica_server.cli("ROLE").split()
        return bool(role) and role[0] == "master"

    def cache_settings(self, **options: Any) -> dict[str, Any]:
        """A django-redis ``CACHES`` entry for this group (django-redis Sentinel support)."""
        return {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://{self.service_name}/0",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.SentinelClient",
                "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
                "SENTINELS": self.sentinels,
                **options,
            },
        }

    def stop(self) -> None:
        for s in self.sentinel_servers:
            s.cleanup()
        self.master_server.cleanup()
        self.replica_server.cleanup()


# -- pytest fixtures: import them into a conftest.py to use them ---------------


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """One 3-master Cluster for the session (tests use keys of their own)."""
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def sentinel_group() -> Iterator[SentinelGroup]:
    """One Sentinel group for the session; a test that fails over starts its own."""
    with SentinelGroup() as group:
        yield group
