"""A small Django project served by gunicorn for the health suite.

``BENCH_HEALTH_VARIANT`` picks what answers the probe path: ``opskit``
(``/readyz``), ``health_check`` (django-health-check, ``/ht/``), ``watchman``
(django-watchman, ``/watchman/``) or ``noop`` (bare Django, ``/noop``).
``BENCH_HEALTH_HUNG_PORT`` adds a database alias pointing at a listener
that never answers.
"""
