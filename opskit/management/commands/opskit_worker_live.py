"""``manage.py opskit_worker_live``: a Celery worker's liveness probe (exit 0 or 1)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opskit.tasks.liveness import DEFAULT_PATH, is_alive


class Command(BaseCommand):
    help = (
        "Exit 0 when the Celery worker's heartbeat file is recent "
        "(see opskit.tasks.liveness.install_liveness), else 1."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", default=DEFAULT_PATH, help="the heartbeat file")
        parser.add_argument(
            "--max-age", type=float, default=30.0, help="seconds (default 30: six beats)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not is_alive(options["file"], options["max_age"]):
            raise CommandError(f"worker not live: {options['file']} is missing or stale")
        self.stdout.write("live")
