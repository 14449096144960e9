"""Helpers shared by the suites."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
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
) -> dict[str, list[float]]:
    """The variant's and bare Django's block figures from one process (``--paired``).

    ``variant``/``bare``: CPU µs per request (every thread); ``*_thread``:
    of the thread driving the requests; ``*_hops``: calls handed to a
    thread pool per request.
    """
    data = run_inproc(variant, handler, path, n, "--paired", str(blocks))
    return {k: [float(x) for x in v] for k, v in data.items()}


@dataclass
class PairedRounds:
    """``paired_rounds``' figures, per variant (``absolute`` also has ``bare``)."""

    absolute: dict[str, list[float]]
    #: Each block's CPU over the bare block beside it.
    added: dict[str, list[float]]
    #: The same for the thread driving the requests alone.
    added_thread: dict[str, list[float]]
    #: Calls handed to a thread pool per request, the variant's and its bare blocks'.
    hops: dict[str, list[float]]
    bare_hops: dict[str, list[float]]


def paired_rounds(variants: list[str], rounds: int, **kw: Any) -> PairedRounds:
    """Each variant beside bare Django (``paired``), in rounds of rotating order."""
    out = PairedRounds({v: [] for v in [*variants, "bare"]}, {}, {}, {}, {})
    for v in variants:
        out.added[v], out.added_thread[v], out.hops[v], out.bare_hops[v] = [], [], [], []
    for r in range(rounds):
        for v in variants[r % len(variants) :] + variants[: r % len(variants)]:
            d = paired(v, **kw)
            out.absolute[v] += d["variant"]
            out.absolute["bare"] += d["bare"]
            out.added[v] += [o - b for o, b in zip(d["variant"], d["bare"], strict=True)]
            out.added_thread[v] += [
                o - b for o, b in zip(d["variant_thread"], d["bare_thread"], strict=True)
            ]
            out.hops[v] += d["variant_hops"]
            out.bare_hops[v] += d["bare_hops"]
    return out


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
