"""Per-query cost of the query monitor's hook vs Django's debug cursor vs no hook.

All variants run in one child process (SQLite in-memory, a real table, the
same ``CursorWrapper.execute`` path), interleaved round by round so machine
drift hits them alike.  Figures are microseconds added per query over the
no-hook median of the same run.

Variants:

* ``none``: no execute wrapper at all (baseline).
* ``idle``: the hook installed, no request or scope active.
* ``count+time``: inside a scope with ``N_PLUS_ONE_THRESHOLD=0`` (no fingerprint).
* ``fp-hit``: inside a scope, fingerprint cache hit (ORM queries repeat their SQL).
* ``fp-miss``: every statement's SQL is new (baseline: the same SQL, no hook).
* ``debug``: Django's debug cursor (``connection.queries``, as with ``DEBUG=True``).
* ``fp-hit+eager``: ``fp-hit`` with ``UNUSED_EAGER_LOADS`` on and a request
  tracked: the query hook's path must not change.

The unused-eager-load report is measured per QuerySet evaluation (the
ORM's ``_fetch_all``, where it lives), off and on, in the same rounds:
``select_related`` over 50 rows and ``prefetch_related`` of 10 x 5 rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from ..stats import Figure, Record
from ..util import ROOT

SQL = (
    'SELECT "bench_t"."id", "bench_t"."name", "bench_t"."n" FROM "bench_t" '
    'WHERE "bench_t"."id" = %s LIMIT 21'
)


def _child(rounds: int, n: int) -> dict[str, list[float]]:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        INSTALLED_APPS=["opskit"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        OPSKIT={},
        USE_TZ=True,
    )
    django.setup()
    from django.db import connection, models

    from opskit import context
    from opskit.conf import get_settings
    from opskit.queries import eager
    from opskit.queries.hook import query_hook
    from opskit.queries.stats import QueryStats

    class BenchA(models.Model):
        name = models.CharField(max_length=20)

        class Meta:
            app_label = "opskit"

        def __str__(self) -> str:
            return self.name

    class BenchB(models.Model):
        a = models.ForeignKey(BenchA, on_delete=models.CASCADE, related_name="bs")

        class Meta:
            app_label = "opskit"

        def __str__(self) -> str:
            return str(self.pk)

    with connection.schema_editor() as editor:
        editor.create_model(BenchA)
        editor.create_model(BenchB)
    for i in range(10):
        a = BenchA.objects.create(name=f"a{i}")
        BenchB.objects.bulk_create([BenchB(a=a) for _ in range(5)])

    with connection.cursor() as c:
        c.execute("CREATE TABLE bench_t (id integer primary key, name text, n integer)")
        for i in range(100):
            c.execute("INSERT INTO bench_t (id, name, n) VALUES (%s, %s, %s)", [i, f"n{i}", i])
    settings_q = get_settings().QUERIES
    count_only = type(settings_q)(N_PLUS_ONE_THRESHOLD=0)
    unique_counter = [0]

    def unique_sqls() -> list[str]:
        base = unique_counter[0]
        unique_counter[0] += n
        return [SQL.replace('"n" FROM', f'"n" AS c{base + i} FROM') for i in range(n)]

    def run_orm(variant: str) -> float:
        """Microseconds per QuerySet evaluation (select_related, prefetch_related)."""
        connection.execute_wrappers[:] = []
        connection.force_debug_cursor = False
        on = variant.endswith("-on")
        eager.set_enabled(on)
        state = eager.begin() if on else None
        loops = max(1, n // 20)
        try:
            t0 = time.process_time()
            for _ in range(loops):
                if variant.startswith("select"):
                    list(BenchB.objects.select_related("a"))
                else:
                    list(BenchA.objects.prefetch_related("bs"))
            elapsed = time.process_time() - t0
        finally:
            if state is not None:
                eager.end(state)
            eager.set_enabled(False)
        return elapsed / loops * 1e6

    def run(variant: str) -> float:
        if variant.startswith(("select-", "prefetch-")):
            return run_orm(variant)
        hook = variant not in ("none", "none-miss", "debug")
        connection.execute_wrappers[:] = [query_hook] if hook else []
        connection.force_debug_cursor = variant == "debug"
        connection.queries_log.clear()
        sqls = unique_sqls() if variant in ("fp-miss", "none-miss") else [SQL] * n
        token = None
        eager_state = None
        if variant == "fp-hit+eager":
            eager.set_enabled(True)
            eager_state = eager.begin()
        if variant in ("count+time", "fp-hit", "fp-miss", "fp-hit+eager"):
            record = context.RequestRecord("bench")
            record.db = QueryStats(
                record, settings=count_only if variant == "count+time" else settings_q
            )
            token = context.activate(record)
        cursor = connection.cursor()
        execute = cursor.execute
        try:
            # CPU time of this process: other tenants of a shared machine
            # do not count, and the loop is single-threaded.
            t0 = time.process_time()
            for i in range(n):
                execute(sqls[i], (i % 100,))
            elapsed = time.process_time() - t0
        finally:
            cursor.close()
            if token is not None:
                context.deactivate(token)
            if eager_state is not None:
                eager.end(eager_state)
                eager.set_enabled(False)
        return elapsed / n * 1e6

    variants = [
        "none",
        "idle",
        "count+time",
        "fp-hit",
        "fp-hit+eager",
        "none-miss",
        "fp-miss",
        "debug",
        "select-off",
        "select-on",
        "prefetch-off",
        "prefetch-on",
    ]
    for v in variants:  # warm-up (and fill the fingerprint cache for fp-hit)
        run(v)
    out: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(rounds):
        for v in variants:
            out[v].append(run(v))
    return out


def _added(samples: list[float], base: list[float]) -> list[float]:
    """Per-round difference to the baseline measured in the same round."""
    return [max(s - b, 0.0) for s, b in zip(samples, base, strict=True)]


def run(quick: bool = False) -> list[Record]:
    rounds, n = (15, 1000) if quick else (41, 3000)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.suites.queries", str(rounds), str(n)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"queries bench failed:\n{proc.stderr[-3000:]}")
    s: dict[str, list[float]] = json.loads(proc.stdout.strip().splitlines()[-1])
    base, base_miss = s["none"], s["none-miss"]
    debug = Figure.of(_added(s["debug"], base))
    hit = Figure.of(_added(s["fp-hit"], base))
    miss = Figure.of(_added(s["fp-miss"], base_miss))

    def verdict(fig: Figure, limit: float, vs_debug: bool) -> str:
        ok = fig.median <= limit and (not vs_debug or fig.median <= debug.median / 3)
        parts = [f"{fig.median:.2f} µs (≤ {limit:g})"]
        if vs_debug and debug.median > 0:
            parts.append(f"{fig.median / debug.median:.2f}x debug cursor (≤ 0.33x)")
        return ("met: " if ok else "NOT met: ") + ", ".join(parts)

    common: dict[str, Any] = {"suite": "queries", "unit": "µs", "better": "lower"}
    anchors = {"Django debug cursor (connection.queries)": debug}
    baseline = {"no hook, per query (absolute)": Figure.of(base)}
    return [
        Record(
            metric="Added per query: hook idle (no request or scope active)",
            opskit=Figure.of(_added(s["idle"], base)),
            anchors=anchors,
            baseline=baseline,
            **common,
        ),
        Record(
            metric="Added per query: count + time (N_PLUS_ONE_THRESHOLD=0)",
            opskit=Figure.of(_added(s["count+time"], base)),
            anchors=anchors,
            **common,
        ),
        Record(
            metric="Added per query: count + time + fingerprint, cache hit",
            opskit=hit,
            anchors=anchors,
            target="≤ 2.5 µs and ≤ 1/3 of the debug cursor",
            verdict=verdict(hit, 2.5, True),
            **common,
        ),
        Record(
            metric="Added per query: count + time + fingerprint, cache miss (new SQL each time)",
            opskit=miss,
            anchors=anchors,
            baseline={"no hook, new SQL each time (absolute)": Figure.of(base_miss)},
            target="≤ 10 µs",
            verdict=verdict(miss, 10.0, False),
            notes=f"SQLite in-memory, {n} queries per sample, {rounds} interleaved rounds",
            **common,
        ),
        Record(
            metric="Added per query: fingerprint cache hit with UNUSED_EAGER_LOADS on",
            opskit=Figure.of(_added(s["fp-hit+eager"], base)),
            baseline={"same, UNUSED_EAGER_LOADS off (fp-hit)": hit},
            notes="the query hook does not read the eager-load state: same path",
            **common,
        ),
        Record(
            metric="Unused eager loads on: added per select_related evaluation (50 rows)",
            opskit=Figure.of(_added(s["select-on"], s["select-off"])),
            baseline={"evaluation, feature off (absolute)": Figure.of(s["select-off"])},
            notes="off is Django's own QuerySet._fetch_all: nothing installed",
            **common,
        ),
        Record(
            metric="Unused eager loads on: added per prefetch_related evaluation (10 x 5 rows)",
            opskit=Figure.of(_added(s["prefetch-on"], s["prefetch-off"])),
            baseline={"evaluation, feature off (absolute)": Figure.of(s["prefetch-off"])},
            **common,
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(_child(int(sys.argv[1]), int(sys.argv[2]))))
