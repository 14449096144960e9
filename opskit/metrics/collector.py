"""Process and system gauges read with psutil when Prometheus scrapes.

Reading at scrape time costs nothing per request.  In multi-process mode
prometheus-client does not aggregate custom collectors across processes, so
the scraping process reports every live sibling worker itself, each under its
``pid`` label: it finds the pids in the names of the files in
``PROMETHEUS_MULTIPROC_DIR`` and keeps those that are alive and share its
parent (the gunicorn master), so a recycled pid of an unrelated process is
never reported.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator

import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..conf import get_settings

__all__ = ["SystemCollector", "cpu_utilization", "multiprocess_dir", "worker_pids"]

_PID_FILE_RE = re.compile(r"_(\d+)\.db$")


def multiprocess_dir() -> str | None:
    """prometheus-client's multi-process directory, if set."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def worker_pids(multiprocess_dir: str | None) -> list[int]:
    """This process, plus live siblings that wrote to ``multiprocess_dir``."""
    me = os.getpid()
    pids = {me}
    if multiprocess_dir:
        try:
            names = os.listdir(multiprocess_dir)
        except OSError:
            names = []
        for name in names:
            m = _PID_FILE_RE.search(name)
            if m:
                pids.add(int(m.group(1)))
    parent = os.getppid()
    alive = []
    for pid in sorted(pids):
        if pid == me:
            alive.append(pid)
            continue
        try:
            if psutil.Process(pid).ppid() == parent:
                alive.append(pid)
        except (psutil.Error, OSError):
            continue
    return alive


_cpu_lock = threading.Lock()
_cpu_last: tuple[float, float] = (0.0, 0.0)  # (busy, total) seconds


def cpu_utilization() -> float:
    """Share (0..1) of all CPUs busy since this process last asked (or boot).

    psutil's ``cpu_percent(None)`` answers a meaningless 0.0 on its first
    call; counting from boot instead gives a true, if long, average.
    """
    global _cpu_last
    t = psutil.cpu_times()
    total = sum(t)
    idle = t.idle + getattr(t, "iowait", 0.0)
    busy = total - idle
    with _cpu_lock:
        last_busy, last_total = _cpu_last
        _cpu_last = (busy, total)
    d_total = total - last_total
    if d_total <= 0:
        return 0.0
    return min(max((busy - last_busy) / d_total, 0.0), 1.0)


class SystemCollector(Collector):
    """``opskit_process_*`` and ``opskit_system_*`` families, read on collect."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir

    def describe(self) -> Iterable[Metric]:
        # Names only (no psutil work) so registering never collects.
        return list(self._families())

    def _families(
        self,
    ) -> tuple[
        CounterMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
    ]:
        return (
            CounterMetricFamily(
                "opskit_process_cpu_seconds",
                "User and system CPU time of a server process.",
                labels=["pid"],
            ),
            GaugeMetricFamily(
                "opskit_process_resident_memory_bytes",
                "Resident memory of a server process.",
                labels=["pid"],
            ),
            GaugeMetricFamily(
                "opskit_process_open_fds",
                "Open file descriptors of a server process.",
                labels=["pid"],
            ),
            GaugeMetricFamily(
                "opskit_process_threads", "Threads of a server process.", labels=["pid"]
            ),
            GaugeMetricFamily(
                "opskit_system_cpu_utilization_ratio",
                "Share of all CPUs busy since the previous scrape answered by this process.",
            ),
            GaugeMetricFamily("opskit_system_memory_total_bytes", "Physical memory."),
            GaugeMetricFamily(
                "opskit_system_memory_available_bytes",
                "Memory available to new processes without swapping.",
            ),
            GaugeMetricFamily(
                "opskit_system_disk_total_bytes", "Size of a filesystem.", labels=["path"]
            ),
            GaugeMetricFamily(
                "opskit_system_disk_free_bytes",
                "Space available to unprivileged users on a filesystem.",
                labels=["path"],
            ),
        )

    def collect(self) -> Iterator[Metric]:
        settings = get_settings().METRICS
        cpu, rss, fds, threads, sys_cpu, mem_total, mem_avail, disk_total, disk_free = (
            self._families()
        )
        if settings.PROCESS_METRICS:
            for pid in worker_pids(self.multiprocess_dir):
                try:
                    proc = psutil.Process(pid)
                    with proc.oneshot():
                        times = proc.cpu_times()
                        label = [str(pid)]
                        cpu.add_metric(label, times.user + times.system)
                        rss.add_metric(label, proc.memory_info().rss)
                        threads.add_metric(label, proc.num_threads())
                        if hasattr(proc, "num_fds"):
                            fds.add_metric(label, proc.num_fds())
                except (psutil.Error, OSError):
                    continue  # the worker exited while we looked
            yield from (cpu, rss, fds, threads)
        if settings.SYSTEM_METRICS:
            sys_cpu.add_metric([], cpu_utilization())
            vm = psutil.virtual_memory()
            mem_total.add_metric([], vm.total)
            mem_avail.add_metric([], vm.available)
            for path in settings.DISK_PATHS:
                try:
                    usage = psutil.disk_usage(path)
                except OSError:
                    continue  # reported by system check opskit.W204
                disk_total.add_metric([path], usage.total)
                disk_free.add_metric([path], usage.free)
            yield from (sys_cpu, mem_total, mem_avail, disk_total, disk_free)
