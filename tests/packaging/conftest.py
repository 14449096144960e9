"""``make packaging`` runs these once (``OPSKIT_PACKAGING_TEST=1``): they build
and install the wheel in a fresh venv, a minute of work the unit runs (twice,
Django 5.2 and 4.2) do not repeat.  Without the variable nothing here is
collected, so nothing is skipped either."""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("OPSKIT_PACKAGING_TEST") == "1" else ["test_*.py"]
