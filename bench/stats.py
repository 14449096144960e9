"""Benchmark records: one metric, opskit's figure and each anchor's, min/median/max."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    min: float
    median: float
    max: float
    n: int

    @classmethod
    def of(cls, samples: list[float]) -> Figure:
        if not samples:
            raise ValueError("no samples")
        return cls(min(samples), statistics.median(samples), max(samples), len(samples))


@dataclass
class Record:
    suite: str
    metric: str
    unit: str
    better: str  # "lower" or "higher"
    opskit: Figure
    anchors: dict[str, Figure] = field(default_factory=dict)
    baseline: dict[str, Figure] = field(default_factory=dict)
    target: str = ""
    verdict: str = ""
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
