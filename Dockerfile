# The opskit demo blog under gunicorn (several workers, multi-process metrics).
#   docker build -t opskit-demo . && docker run --rm -p 8000:8000 opskit-demo
# docker-compose.yml runs it with PostgreSQL, Redis, Prometheus and Grafana.
# tools/dockerfile_smoke.py replays this file's install and start steps.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data

WORKDIR /app

# Dependencies in their own layer: rebuilt only when pyproject.toml changes,
# not on every source edit (the package itself is reinstalled below).
COPY pyproject.toml README.md ./
COPY opskit/__init__.py opskit/__init__.py
RUN pip install ".[demo]" && pip uninstall --yes django-opskit

COPY opskit opskit
COPY demo_project demo_project
RUN pip install --no-deps .

USER app
WORKDIR /app/demo_project

# SQLite in /data unless DATABASE_URL says otherwise (compose: PostgreSQL);
# PROMETHEUS_MULTIPROC_DIR lets /metrics merge every gunicorn worker;
# gunicorn reads PORT and WEB_CONCURRENCY.
ENV DJANGO_SETTINGS_MODULE=demo.settings \
    DATABASE_URL=sqlite:////data/demo.sqlite3 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/opskit-metrics \
    PORT=8000 \
    WEB_CONCURRENCY=3

EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "manage.py", "opskit_health", "--live"]

CMD ["sh", "-c", "mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && python manage.py migrate --noinput && python manage.py seed_blog --posts 300 --if-empty && exec gunicorn demo.wsgi -c python:opskit.gunicorn"]
