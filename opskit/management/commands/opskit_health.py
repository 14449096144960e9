"""``manage.py opskit_health [--live|--ready|--startup]``: exec and Docker probes.

Runs the same checks as the HTTP endpoints, once, with the same deadline,
prints the status (or the details with ``--verbose``) and exits 0 for pass
or warn, 1 for fail.  A hung dependency is reported at the deadline: the
stuck worker is a daemon thread and never delays the exit.

stdout carries the answer only: a script or a Docker ``HEALTHCHECK`` parses
``--json`` with ``json.load``.  Log handlers writing to stdout (JSON
logging in a container usually does) are pointed at stderr while the
command runs, and so is anything else printed meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from opskit.conf import get_settings
from opskit.health.base import READY, STARTUP
from opskit.health.runner import FAIL, get_runner, overall
from opskit.health.views import check_entry


class Command(BaseCommand):
    help = "Run the health checks once; exit 0 on pass or warn, 1 on fail."
    requires_system_checks: list[str] = []  # start fast; probes must not wait
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--live", action="store_const", dest="kind", const="live")
        group.add_argument("--ready", action="store_const", dest="kind", const=READY)
        group.add_argument("--startup", action="store_const", dest="kind", const=STARTUP)
        parser.add_argument(
            "--exclude", action="append", default=[], help="skip this check (repeatable)"
        )
        parser.add_argument("--json", action="store_true", help="print the health+json details")
        parser.set_defaults(kind=READY)

    def handle(self, *args: Any, **options: Any) -> None:
        # The whole command, output included: a check's worker thread may
        # log a transition at any moment until the process exits.
        with _stdout_logs_to_stderr():
            self._handle(options)

    def _handle(self, options: dict[str, Any]) -> None:
        kind = options["kind"]
        if kind == "live":
            pairs = []
        else:
            runner = get_runner()
            slots = runner.select(kind, exclude=options["exclude"]) or []
            pairs = runner.evaluate(slots)
        status = overall(pairs)
        if options["json"]:
            doc = {
                "status": status,
                "checks": {c.key: [check_entry(c, r)] for c, r in pairs},
            }
            self.stdout.write(json.dumps(doc, indent=2))
        else:
            lines = [status]
            if get_settings().HEALTH.ENABLED or pairs:
                for check, result in pairs:
                    extra = f" ({result.output})" if result.output else ""
                    lines.append(f"  {check.key}: {result.status}{extra}")
            self.stdout.write("\n".join(lines))
        self.stdout.flush()
        if status == FAIL:
            sys.exit(1)


def _stdout_handlers() -> list[logging.StreamHandler[Any]]:
    loggers: list[Any] = [logging.getLogger()]
    loggers += [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    out: dict[int, logging.StreamHandler[Any]] = {}  # a handler may serve several loggers
    for lg in loggers:
        for handler in lg.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (
                sys.stdout,
                sys.__stdout__,
            ):
                out[id(handler)] = handler
    return list(out.values())


@contextlib.contextmanager
def _stdout_logs_to_stderr() -> Iterator[None]:
    """Point stdout's log handlers (and stray prints) at stderr meanwhile.

    Uses ``StreamHandler.setStream``; the command's own ``self.stdout`` keeps
    the real stdout for the answer.
    """
    handlers = _stdout_handlers()
    previous = [h.setStream(sys.stderr) for h in handlers]
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)
