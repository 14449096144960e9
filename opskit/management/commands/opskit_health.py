"""``manage.py opskit_health [--live|--ready|--startup]``: exec and Docker probes.

Runs the same checks as the HTTP endpoints, once, with the same deadline,
prints the status (or the details with ``--verbose``) and exits 0 for pass
or warn, 1 for fail.  A hung dependency is reported at the deadline: the
stuck worker is a daemon thread and never delays the exit.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from opskit.conf import get_settings
from opskit.health.base import READY, STARTUP
from opskit.health.runner import FAIL, get_runner, overall
from opskit.health.views import _check_entry


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
                "checks": {c.key: [_check_entry(c, r)] for c, r in pairs},
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
