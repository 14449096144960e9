"""The end-to-end benchmark's project: one cheap JSON view, three stacks.

``BENCH_E2E_VARIANT`` picks the stack a server runs: ``bare`` (Django with
its default logging, nothing written per request), ``opskit`` (every
capability on, the JSON request line on stdout as ``json_logging()``
configures it) or ``anchors`` (django-prometheus + django-structlog +
django-guid, JSON lines on stdout).  ``demo_settings`` runs the demo blog
on PostgreSQL the same ways.
"""
