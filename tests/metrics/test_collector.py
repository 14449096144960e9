"""Process and system gauges, read with psutil at scrape time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psutil

from opskit.metrics.collector import SystemCollector, cpu_utilization, worker_pids

from .conftest import pick, scrape, total


def test_process_and_system_gauges(configure: Any, tmp_path: Path) -> None:
    configure(DISK_PATHS=["/", str(tmp_path), str(tmp_path / "missing")])
    s = scrape()
    pid = str(os.getpid())
    me = psutil.Process()
    assert total(s, "opskit_process_threads", pid=pid) == me.num_threads()
    assert total(s, "opskit_process_open_fds", pid=pid) >= 3
    assert total(s, "opskit_process_resident_memory_bytes", pid=pid) > 10_000_000
    cpu = total(s, "opskit_process_cpu_seconds_total", pid=pid)
    times = me.cpu_times()
    assert 0 < cpu <= times.user + times.system
    assert total(s, "opskit_system_memory_total_bytes") == psutil.virtual_memory().total
    assert 0 < total(s, "opskit_system_memory_available_bytes") <= psutil.virtual_memory().total
    assert 0 <= total(s, "opskit_system_cpu_utilization_ratio") <= 1
    disks = {x.labels["path"] for x in pick(s, "opskit_system_disk_total_bytes")}
    assert disks == {"/", str(tmp_path)}  # a missing path is skipped, not an error
    assert total(s, "opskit_system_disk_total_bytes", path="/") == psutil.disk_usage("/").total


def test_toggles(configure: Any) -> None:
    configure(PROCESS_METRICS=False)
    names = {x.name for x in scrape()}
    assert "opskit_process_threads" not in names and "opskit_system_memory_total_bytes" in names
    configure(SYSTEM_METRICS=False)
    names = {x.name for x in scrape()}
    assert "opskit_process_threads" in names and "opskit_system_memory_total_bytes" not in names


def test_cpu_utilization_tracks_busy_time() -> None:
    cpu_utilization()
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    t = threading.Thread(target=spin)
    t.start()
    try:
        psutil.cpu_percent(interval=0.3)  # let time pass, busy
    finally:
        stop.set()
        t.join()
    assert 0 < cpu_utilization() <= 1


def test_worker_pids_keeps_live_siblings_only(tmp_path: Path) -> None:
    # A sibling: a child of our parent is hard to make, so run the check from a
    # child process whose sibling is another child of this test process.
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        for pid in (sibling.pid, dead.pid, 1):  # 1: alive, but not a sibling
            (tmp_path / f"counter_{pid}.db").write_bytes(b"")
        (tmp_path / "not-a-metrics-file.txt").write_text("x")
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import os, sys; from opskit.metrics.collector import worker_pids; "
                "print(worker_pids(sys.argv[1]), os.getpid())",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.split("]")
        pids = [int(p) for p in out[0].strip("[ ").split(",")]
        me = int(out[1])
        assert sorted(pids) == sorted([me, sibling.pid])
    finally:
        sibling.kill()
        sibling.wait()
    assert worker_pids(None) == [os.getpid()]


def test_collector_describe_does_no_psutil_work() -> None:
    names = {m.name for m in SystemCollector().describe()}
    assert "opskit_process_cpu_seconds" in names and "opskit_system_disk_free_bytes" in names
    assert all(not m.samples for m in SystemCollector().describe())
