"""What a health check is: a small object with a ``run()`` that raises.

A check reports by returning (pass, optionally with an observed value) or by
raising: :class:`CheckWarning` for a degraded state, :class:`CheckFailed` or
any other exception for a failure.  The runner times it, keeps it to its
deadline, and turns the outcome into a :class:`Result`; checks never format
responses or catch their own errors.

The set of checks is explicit (``OPSKIT["HEALTH"]["CHECKS"]``), never a
global registry: a decorated function is just a check object referenced by
its dotted path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, overload

__all__ = [
    "READY",
    "STARTUP",
    "Check",
    "CheckFailed",
    "CheckWarning",
    "FunctionCheck",
    "HealthError",
    "Result",
    "health_check",
    "sanitize",
]

#: Groups a check can belong to: readiness probes and the startup probe.
READY = "ready"
STARTUP = "startup"

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class HealthError(Exception):
    """Base of the typed errors a check raises.

    Its message is written by the check's author and shown (sanitized) in
    details; ``observed`` keeps a measured value, e.g. a disk percentage.
    """

    def __init__(self, message: str = "", observed: float | None = None) -> None:
        super().__init__(message)
        self.observed = observed


class CheckFailed(HealthError):
    """The dependency is unusable (fail; warn if the check is not critical)."""


class CheckWarning(HealthError):
    """The dependency works but is degraded (warn, never fail)."""


@dataclass(frozen=True)
class Result:
    """One observation of one check.

    ``observed_at`` is a ``time.monotonic()`` moment (freshness), ``wall`` the
    matching ``time.time()`` for the ``time`` field of the response.
    """

    status: str  # "pass" | "warn" | "fail"
    observed_at: float
    wall: float
    duration: float
    value: float | None = None
    output: str = ""


class Check:
    """A health check; subclass and implement :meth:`run`.

    ``name`` identifies the check in ``?exclude=``, ``/readyz/<name>`` and
    the response key ``"<name>:<measurement>"``.  ``critical`` decides
    whether a failure fails the probe (503) or only degrades it (200 warn).
    ``timeout`` (seconds) replaces the probe's ``DEADLINE`` for this check.
    """

    name: str = ""
    component_type: ClassVar[str] = "component"
    measurement: ClassVar[str] = "responseTime"
    #: Unit of ``observedValue``; ``"ms"`` checks report their duration when
    #: ``run()`` returns nothing.
    unit: ClassVar[str] = "ms"
    critical: bool = True
    timeout: float | None = None
    groups: frozenset[str] = frozenset({READY})

    def __init__(
        self,
        *,
        name: str | None = None,
        critical: bool | None = None,
        timeout: float | None = None,
        groups: list[str] | tuple[str, ...] | frozenset[str] | None = None,
    ) -> None:
        if name is not None:
            self.name = name
        if critical is not None:
            self.critical = critical
        if timeout is not None:
            self.timeout = timeout
        if groups is not None:
            self.groups = frozenset(groups)
        if not self.name:
            self.name = type(self).__name__.lower()
        if not _NAME_RE.fullmatch(self.name):
            raise ValueError(f"health check name {self.name!r}: use letters, digits, '.', '_', '-'")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"health check {self.name!r}: timeout must be > 0")
        unknown = self.groups - {READY, STARTUP}
        if unknown:
            raise ValueError(f"health check {self.name!r}: unknown groups {sorted(unknown)}")

    @property
    def key(self) -> str:
        return f"{self.name}:{self.measurement}"

    def run(self) -> float | None:
        """Probe the dependency once; raise to report a problem.

        Runs on the check's own long-lived worker thread, never on a request
        thread, so it may block; the probe stops waiting at the deadline.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release resources held across runs (called on the worker thread)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class FunctionCheck(Check):
    """A check made from a plain function by :func:`health_check`."""

    def __init__(self, func: Callable[[], float | None], **kwargs: Any) -> None:
        self.func = func
        if kwargs.get("name") is None:
            kwargs["name"] = func.__name__
        super().__init__(**kwargs)
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    def run(self) -> float | None:
        return self.func()

    def __call__(self) -> float | None:
        return self.func()


@overload
def health_check(func: Callable[[], float | None], /) -> FunctionCheck: ...


@overload
def health_check(
    *,
    name: str | None = None,
    critical: bool = True,
    timeout: float | None = None,
    groups: tuple[str, ...] = (READY,),
) -> Callable[[Callable[[], float | None]], FunctionCheck]: ...


def health_check(
    func: Callable[[], float | None] | None = None,
    /,
    *,
    name: str | None = None,
    critical: bool = True,
    timeout: float | None = None,
    groups: tuple[str, ...] = (READY,),
) -> FunctionCheck | Callable[[Callable[[], float | None]], FunctionCheck]:
    """Turn a function into a check; list its dotted path in ``CHECKS``.

    ::

        @health_check(critical=False, timeout=0.3)
        def payments() -> None:
            if not gateway.ping():
                raise CheckFailed("gateway unreachable")
    """

    def wrap(f: Callable[[], float | None]) -> FunctionCheck:
        return FunctionCheck(f, name=name, critical=critical, timeout=timeout, groups=groups)

    if func is not None:
        return wrap(func)
    return wrap


# -- output sanitizing ------------------------------------------------------

_SCRUB = [
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S*"), "<url>"),
    (re.compile(r"\"[^\"]*\"|'[^']*'|`[^`]*`"), '"…"'),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<address>"),
    (re.compile(r"\[?\b[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}\b\]?(?::\d+)?"), "<address>"),
    (re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[/\\][^\s,;'\"()]*"), "<path>"),
    (re.compile(r"\b[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+\b(?::\d+)?"), "<name>"),
    (re.compile(r"\blocalhost\b", re.IGNORECASE), "<name>"),
    (re.compile(r"\bport \d+\b"), "port <n>"),
]

#: Longest ``output`` in a response.
MAX_OUTPUT = 120


def sanitize(exc: BaseException | str) -> str:
    """``"ClassName: short message"`` with no host, address, path or URL.

    Only the first line of the message is kept (never a traceback); anything
    that looks like a host, address, path, URL or quoted value is replaced.
    """
    if isinstance(exc, BaseException):
        prefix = "" if isinstance(exc, HealthError) else type(exc).__name__
        text = str(exc)
    else:
        prefix, text = "", exc
    line = text.strip().splitlines()[0] if text.strip() else ""
    for pattern, repl in _SCRUB:
        line = pattern.sub(repl, line)
    line = " ".join(line.split())
    out = f"{prefix}: {line}" if prefix and line else (prefix or line)
    if len(out) > MAX_OUTPUT:
        out = out[: MAX_OUTPUT - 1] + "…"
    return out
