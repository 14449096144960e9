"""Running checks so a probe never hangs and never multiplies load.

* Every check has one long-lived daemon worker thread, started on first use
  and never joined.  A probe hands it a run and waits on an event, at most
  until the run's budget (``DEADLINE`` or the check's ``timeout``) is spent.
* At most one run per check is in flight per process (single-flight): a
  probe arriving while a run is in flight waits for that run.
* A result is reused for ``TTL`` seconds, so any probe rate costs at most
  one run per check per TTL per process.  A failure is reused for a quarter
  of that (``FAIL_TTL_SHARE``): each worker caches its own result, and after
  a dependency recovers every worker must notice soon, not one TTL after
  its last failure (readiness converges across workers within TTL/4 plus
  one run).  A probe flood during an outage still costs at most four runs
  per check per TTL per process, never one per probe.
* A run still going at the end of its budget is reported failed ("hung for
  N s") and that report is cached like a result, so the next probes answer
  at once; the stuck worker is left alone until its dependency answers or
  its own connection timeout frees it.

Results are observed after the run finishes; a probe waits at most one
budget for a fresh run, so nothing older than ``TTL + DEADLINE`` is served.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable

from ..conf import HealthSettings, get_settings, on_reload
from .base import READY, Check, CheckWarning, Result, sanitize

__all__ = ["FAIL", "PASS", "WARN", "Runner", "Slot", "get_runner", "overall"]

PASS, WARN, FAIL = "pass", "warn", "fail"

#: Share of ``TTL`` for which a failed result is reused (see above).
FAIL_TTL_SHARE = 0.25

logger = logging.getLogger("opskit.health")


class _Run:
    """One execution of one check; probes wait on it."""

    __slots__ = ("callbacks", "done", "result", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.done = threading.Event()
        self.result: Result | None = None
        self.callbacks: list[Callable[[], None]] = []


class Slot:
    """A check plus its worker, in-flight run and last result."""

    __slots__ = (
        "budget",
        "check",
        "hung_run",
        "last_status",
        "queue",
        "result",
        "run",
        "runner",
        "thread",
    )

    def __init__(self, runner: Runner, check: Check, deadline: float) -> None:
        self.runner = runner
        self.check = check
        self.budget = check.timeout if check.timeout is not None else deadline
        self.result: Result | None = None
        self.run: _Run | None = None
        self.hung_run: _Run | None = None
        self.last_status: str | None = None
        self.queue: queue.SimpleQueue[_Run | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None

    def start(self, now: float) -> _Run:
        """Hand a new run to the worker (caller holds the runner lock)."""
        run = _Run(now)
        self.run = run
        if self.thread is None:
            self.thread = threading.Thread(
                target=self._work, name=f"opskit-health:{self.check.name}", daemon=True
            )
            self.thread.start()
        self.queue.put(run)
        return run

    def _work(self) -> None:
        check = self.check
        while True:
            run = self.queue.get()
            if run is None:
                break
            t0 = time.perf_counter()
            value: float | None = None
            output = ""
            try:
                value = check.run()
                status = PASS
            except CheckWarning as exc:
                status, value, output = WARN, exc.observed, sanitize(exc)
            except BaseException as exc:  # a stray SystemExit must not kill the worker
                status, output = FAIL, sanitize(exc)
                value = getattr(exc, "observed", None)
            duration = time.perf_counter() - t0
            if value is None and check.unit == "ms":
                value = round(duration * 1000, 3)
            result = Result(status, time.monotonic(), time.time(), duration, value, output)
            self.runner._complete(self, run, result)
        try:
            check.close()
        except Exception:
            pass


def overall(pairs: Iterable[tuple[Check, Result]]) -> str:
    """A critical failure fails the probe; any other problem only warns."""
    status = PASS
    for check, result in pairs:
        if result.status == FAIL and check.critical:
            return FAIL
        if result.status != PASS:
            status = WARN
    return status


class Runner:
    """The checks of one process and their cached results."""

    def __init__(self, checks: list[Check], settings: HealthSettings) -> None:
        self.ttl = settings.TTL
        self.fail_ttl = settings.TTL * FAIL_TTL_SHARE
        self.deadline = settings.DEADLINE
        self.lock = threading.Lock()
        self.slots = {c.name: Slot(self, c, settings.DEADLINE) for c in checks}

    # -- selection ---------------------------------------------------------

    def select(
        self, group: str = READY, only: str | None = None, exclude: Iterable[str] = ()
    ) -> list[Slot] | None:
        """Slots of a group; ``None`` when ``only`` names no check of it."""
        if only is not None:
            slot = self.slots.get(only)
            if slot is None or group not in slot.check.groups:
                return None
            return [slot]
        excluded = set(exclude)
        return [
            s
            for s in self.slots.values()
            if group in s.check.groups and s.check.name not in excluded
        ]

    # -- evaluation --------------------------------------------------------

    def _begin(
        self, slots: list[Slot]
    ) -> tuple[list[tuple[Slot, Result]], list[tuple[Slot, _Run]], list[tuple[Slot, Result]]]:
        now = time.monotonic()
        ready: list[tuple[Slot, Result]] = []
        waits: list[tuple[Slot, _Run]] = []
        fresh_hung: list[tuple[Slot, Result]] = []
        with self.lock:
            for slot in slots:
                result = slot.result
                if result is not None and now - result.observed_at < self._reuse(result):
                    ready.append((slot, result))
                    continue
                run = slot.run
                if run is None:
                    waits.append((slot, slot.start(now)))
                elif now - run.started >= slot.budget:
                    hung = self._hung_locked(slot, run, now)
                    ready.append((slot, hung))
                    fresh_hung.append((slot, hung))
                else:
                    waits.append((slot, run))
        return ready, waits, fresh_hung

    def _reuse(self, result: Result) -> float:
        return self.fail_ttl if result.status == FAIL else self.ttl

    def _hung_locked(self, slot: Slot, run: _Run, now: float) -> Result:
        waited = now - run.started
        result = Result(FAIL, now, time.time(), waited, None, f"hung for {waited:.1f} s")
        slot.result = result
        slot.hung_run = run
        return result

    def _timed_out(self, slot: Slot, run: _Run) -> Result:
        """The run outlived its budget: report it (once per TTL) as hung."""
        now = time.monotonic()
        with self.lock:
            if run.result is not None:
                return run.result
            current = slot.result
            if (
                current is not None
                and slot.hung_run is run
                and now - current.observed_at < self.fail_ttl
            ):
                return current
            result = self._hung_locked(slot, run, now)
        self._report(slot, result)
        return result

    def evaluate(self, slots: list[Slot], since: float | None = None) -> list[tuple[Check, Result]]:
        """Results for ``slots``, waiting (blocking) at most one budget.

        ``since`` (``time.monotonic()``) is when the probe arrived: the wait
        ends one budget after it even if building the runner took time.
        """
        ready, waits, fresh_hung = self._begin(slots)
        for slot, result in fresh_hung:
            self._report(slot, result)
        got = dict(ready)
        for slot, run in waits:
            remaining = _end(run, slot, since) - time.monotonic()
            if remaining > 0:
                run.done.wait(remaining)
            done = run.result
            got[slot] = done if done is not None else self._timed_out(slot, run)
        return [(slot.check, got[slot]) for slot in slots]

    async def aevaluate(
        self, slots: list[Slot], since: float | None = None
    ) -> list[tuple[Check, Result]]:
        """:meth:`evaluate` for the event loop: waits without blocking it.

        The worker wakes the loop with ``call_soon_threadsafe``; no thread
        is borrowed from an executor.
        """
        ready, waits, fresh_hung = self._begin(slots)
        for slot, result in fresh_hung:
            self._report(slot, result)
        got = dict(ready)
        if waits:
            loop = asyncio.get_running_loop()
            for slot, run in waits:
                fut: asyncio.Future[None] = loop.create_future()
                with self.lock:
                    if run.result is None:
                        run.callbacks.append(_waker(loop, fut))
                    else:
                        fut.set_result(None)
                remaining = _end(run, slot, since) - time.monotonic()
                if remaining > 0 and not fut.done():
                    await asyncio.wait({fut}, timeout=remaining)
                done = run.result
                got[slot] = done if done is not None else self._timed_out(slot, run)
        return [(slot.check, got[slot]) for slot in slots]

    def _complete(self, slot: Slot, run: _Run, result: Result) -> None:
        with self.lock:
            run.result = result
            if slot.run is run:
                slot.run = None
            slot.result = result
            callbacks, run.callbacks = run.callbacks, []
        # Report first: the transition is logged before any probe answers.
        self._report(slot, result)
        run.done.set()
        for callback in callbacks:
            callback()

    def _report(self, slot: Slot, result: Result) -> None:
        """Log transitions only, and tell metrics about every observation."""
        check = slot.check
        with self.lock:
            previous, slot.last_status = slot.last_status, result.status
        if previous != result.status and not (previous is None and result.status == PASS):
            logger.warning(
                "health check %s: %s -> %s%s",
                check.name,
                previous or "unknown",
                result.status,
                f" ({result.output})" if result.output else "",
                extra={"health_check": check.name, "health_status": result.status},
            )
        from ..signals import health_checked, send

        send(
            health_checked,
            type(check),
            check=check.name,
            status=result.status,
            duration=result.duration,
            critical=check.critical,
            record=None,
        )

    def stop(self) -> None:
        """Let idle workers exit and close their connections (never joins)."""
        for slot in self.slots.values():
            if slot.thread is not None:
                slot.queue.put(None)


def _end(run: _Run, slot: Slot, since: float | None) -> float:
    """When a probe stops waiting for ``run``: one budget after the run
    started, or after the probe arrived if that is earlier."""
    end = run.started + slot.budget
    return end if since is None else min(end, since + slot.budget)


def _waker(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None]) -> Callable[[], None]:
    def wake() -> None:
        try:
            loop.call_soon_threadsafe(_resolve, fut)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    return wake


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


# -- the process's runner ----------------------------------------------------

_runner: Runner | None = None
_runner_lock = threading.Lock()
_fork_hook = False


def get_runner() -> Runner:
    """The runner for the current settings, built on first use."""
    runner = _runner
    if runner is not None:
        return runner
    return _build()


def _build() -> Runner:
    global _runner, _fork_hook
    from .registry import build_checks

    with _runner_lock:
        if _runner is None:
            settings = get_settings().HEALTH
            _runner = Runner(build_checks(settings), settings)
            if not _fork_hook and hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_forget)
                _fork_hook = True
        return _runner


def _forget() -> None:
    """After fork: the parent's threads do not exist here; start afresh."""
    global _runner, _runner_lock
    _runner = None
    _runner_lock = threading.Lock()


def reset_runner() -> None:
    """Drop the runner (settings changed); its idle workers exit."""
    global _runner
    with _runner_lock:
        runner, _runner = _runner, None
    if runner is not None:
        runner.stop()


on_reload(reset_runner)
