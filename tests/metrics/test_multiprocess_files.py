"""A scrape while a worker is still creating its metrics file."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from opskit.metrics.views import SettledFilesCollector


def _worker_files(path: Path) -> None:
    done = MmapedDict(str(path / "counter_101.db"))
    done.write_value(mmap_key("jobs", "jobs_total", [], [], "Jobs."), 7.0, 0.0)
    done.close()
    (path / "counter_102.db").touch()  # the next worker, created but not sized


def test_a_file_being_created_does_not_fail_the_scrape(tmp_path: Path) -> None:
    _worker_files(tmp_path)
    with pytest.raises(struct.error):  # what prometheus-client alone does
        list(MultiProcessCollector(None, path=str(tmp_path)).collect())  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    SettledFilesCollector(registry, path=str(tmp_path))
    assert registry.get_sample_value("jobs_total") == 7.0
    assert os.path.getsize(tmp_path / "counter_102.db") == 0
