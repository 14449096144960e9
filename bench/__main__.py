"""``python -m bench [suite ...] [--quick]``: run suites, write the results.

Writes ``bench/results/latest.json`` (records merged by suite, so running one
suite keeps the others' last figures) and the table in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import platform
import sys
import time
from pathlib import Path
from typing import Any

from . import suites
from .stats import Record

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"
DOC = ROOT / "docs" / "benchmarks.md"


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(suites.__path__))


def fmt(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fig(f: dict[str, Any]) -> str:
    return f"{fmt(f['median'])} ({fmt(f['min'])}–{fmt(f['max'])})"


#: Drawn by the suite of the same name; shown above its table.
CHARTS = {"e2e": ("img/benchmarks-e2e.png", "End to end: requests/s and added worker CPU")}


def table(records: list[dict[str, Any]], dates: dict[str, str] | None = None) -> str:
    lines = []
    by_suite: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_suite.setdefault(r["suite"], []).append(r)
    for suite, recs in sorted(by_suite.items()):
        when = (dates or {}).get(suite)
        lines += [f"## {suite}", ""]
        if when:
            lines += [f"Measured {when}.", ""]
        chart = CHARTS.get(suite)
        if chart and (DOC.parent / chart[0]).exists():
            lines += [f"![{chart[1]}]({chart[0]})", ""]
        lines += [
            "| metric | unit | better | opskit median (min–max) | anchors, same run | target | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in recs:
            anchors = "<br>".join(f"{k}: {fig(v)}" for k, v in r["anchors"].items()) or "—"
            if r.get("baseline"):
                anchors += "<br>" + "<br>".join(
                    f"*{k}*: {fig(v)}" for k, v in r["baseline"].items()
                )
            lines.append(
                f"| {r['metric']} | {r['unit']} | {r['better']} | {fig(r['opskit'])} | "
                f"{anchors} | {r.get('target') or '—'} | {r.get('verdict') or '—'} |"
            )
            if r.get("notes"):
                lines.append(f"| | | | *{r['notes']}* | | | |")
        lines.append("")
    return "\n".join(lines)


def write(records: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    """``latest.json`` and the page: a section per suite, with the date it ran."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"meta": meta, "records": records}, indent=2) + "\n")
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(
        "# Benchmarks\n\n"
        "Produced by `make bench` (one suite: `make bench SUITE=core`); every anchor "
        "package is measured in the same run as opskit, on the same machine. Figures "
        "are the median with min–max over repeats. Baselines in *italics*. CPU time "
        "on a shared virtual machine is noisy; the `instructions` suite counts "
        "instructions under valgrind's callgrind instead, which no neighbour's load "
        "changes (instructions are not time: system calls and cache misses are not in "
        "them). The `e2e` suite runs real servers (gunicorn, uvicorn) under wrk, each "
        "stack in its own server, in interleaved rounds; the in-process suites drive "
        "Django's whole WSGI and ASGI handlers. Each section says when it was "
        "measured, and its bare-Django baseline shows how fast the machine was then: "
        "compare ratios across sections, not microseconds. "
        "`python -m bench --render` rewrites this page from "
        "`bench/results/latest.json`.\n\n"
        f"Machine: {meta['machine']}; Python {meta['python']}; generated {meta['date']}.\n\n"
        + table(records, meta.get("suites"))
    )


def _meta(dates: dict[str, str]) -> dict[str, Any]:
    return {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
        f"{__import__('os').cpu_count()} cores",
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "suites": dict(sorted(dates.items())),
    }


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("suites", nargs="*", help=f"one or more of {', '.join(available())}")
    ap.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    ap.add_argument(
        "--render", action="store_true", help="write docs/benchmarks.md from latest.json only"
    )
    args = ap.parse_args()
    if args.render:
        from .suites.e2e import chart

        data = json.loads(RESULTS.read_text())
        chart(data["records"])
        write(data["records"], data["meta"])
        return 0
    names = args.suites or available()
    unknown = set(names) - set(available())
    if unknown:
        print(f"unknown suite(s): {', '.join(sorted(unknown))}; have {available()}")
        return 2
    old: list[dict[str, Any]] = []
    previous_records: list[dict[str, Any]] = []
    dates: dict[str, str] = {}
    if RESULTS.exists():
        previous = json.loads(RESULTS.read_text())
        previous_records = previous["records"]
        old = [r for r in previous_records if r["suite"] not in names]
        dates = dict(previous["meta"].get("suites", {}))
        for r in previous_records:  # a suite from a run before per-suite dates: its date
            dates.setdefault(r["suite"], previous["meta"]["date"])
    new: list[Record] = []
    for name in names:
        mod = importlib.import_module(f"bench.suites.{name}")
        print(f"== suite {name}", flush=True)
        t0 = time.time()
        recs = mod.run(quick=args.quick)
        new += recs
        took = time.time() - t0
        dates[name] = (
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t0))} ({took / 60:.1f} min"
            f"{', --quick' if args.quick else ''})"
        )
        print(table([r.to_json() for r in recs]))
        print(f"   ({took:.0f} s)", flush=True)
        # Written after each suite: a run cut short keeps what it measured.
        done = {r.suite for r in new}
        kept = [r for r in old if r["suite"] not in done] + [
            r for r in previous_records if r["suite"] in set(names) - done
        ]
        write(kept + [r.to_json() for r in new], _meta(dates))
    return 0


if __name__ == "__main__":
    sys.exit(main())
