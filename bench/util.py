"""Helpers shared by the suites."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from .stats import Figure

ROOT = Path(__file__).resolve().parent.parent


def run_inproc(variant: str, handler: str, path: str, n: int, *extra: str) -> Any:
    """Run ``bench.inproc`` for one variant in a fresh process; its JSON answer."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.inproc",
            "--variant",
            variant,
            "--handler",
            handler,
            "--path",
            path,
            "--n",
            str(n),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(
            f"bench.inproc {variant} {' '.join(extra)} failed:\n{out.stderr[-3000:]}"
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def inproc(
    variant: str, handler: str = "wsgi", path: str = "/sync/", n: int = 3000, repeats: int = 7
) -> list[float]:
    """CPU µs per request for one variant, from a fresh subprocess."""
    return [float(x) for x in run_inproc(variant, handler, path, n, "--repeats", str(repeats))]


def paired(
    variant: str, handler: str = "wsgi", path: str = "/sync/1/", n: int = 300, blocks: int = 10
) -> tuple[list[float], list[float]]:
    """(variant, bare Django) CPU µs per request, block by block, from one process."""
    data = run_inproc(variant, handler, path, n, "--paired", str(blocks))
    return [float(x) for x in data["variant"]], [float(x) for x in data["bare"]]


def paired_rounds(
    variants: list[str], rounds: int, **kw: Any
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Each variant beside bare Django (``paired``), in rounds of rotating order.

    Returns the variants' block figures and, per variant, its block-by-block
    cost over the bare blocks beside it.
    """
    absolute: dict[str, list[float]] = {v: [] for v in [*variants, "bare"]}
    diffs: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(rounds):
        for v in variants[r % len(variants) :] + variants[: r % len(variants)]:
            ours, bare = paired(v, **kw)
            absolute[v] += ours
            absolute["bare"] += bare
            diffs[v] += [o - b for o, b in zip(ours, bare, strict=True)]
    return absolute, diffs


def interleaved(variants: list[str], rounds: int, **kw: object) -> dict[str, list[float]]:
    """Run variants in alternating rounds so drift hits all of them alike."""
    samples: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(rounds):
        for v in variants:
            samples[v] += inproc(v, **kw)  # type: ignore[arg-type]
    return samples


def added(samples: list[float], bare: list[float]) -> list[float]:
    """Per-repeat added cost over the bare median (never below zero)."""
    base = Figure.of(bare).median
    return [max(s - base, 0.0) for s in samples]


def ratio_verdict(ours: float, theirs: float, at_most: float) -> str:
    if theirs <= 0:
        return "n/a"
    r = ours / theirs
    ok = "met" if r <= at_most else "NOT met"
    return f"{ok}: {r:.2f}x (target ≤ {at_most:g}x)"


_COLLECTED = re.compile(r"Collected : (\d+)")


def callgrind_instructions(module_args: list[str], what: str) -> int:
    """Instructions of ``python -m <module_args>`` under valgrind's callgrind.

    ``PYTHONHASHSEED`` is fixed, so the same run counts the same.
    """
    out = subprocess.run(
        [
            *("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"),
            *(sys.executable, "-m", *module_args),
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONHASHSEED="0"),
        capture_output=True,
        text=True,
        check=False,
    )
    m = _COLLECTED.search(out.stderr)
    if out.returncode != 0 or m is None:
        raise RuntimeError(f"callgrind run of {what} failed:\n{out.stderr[-3000:]}")
    return int(m.group(1))
