# syntax=docker/dockerfile:1

# AI Stack production image. The default command serves the site with gunicorn on port 8000; the same image runs
# the Celery worker, Celery beat and one-off management commands (see docker-compose.yml).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: a virtualenv with the production requirements ------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Compilers for any requirement without a wheel for the target platform; they stay in this stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

COPY requirements/ /tmp/requirements/
RUN pip install --no-cache-dir -r /tmp/requirements/prod.txt

# ---- runtime -------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="AI Stack" \
      org.opencontainers.image.description="AI Stack business suite: web (gunicorn), Celery worker and beat"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:${PATH}" \
    DJANGO_ENV=production \
    GUNICORN_WORKERS=3

RUN groupadd --system --gid 10001 aistack \
    && useradd --system --uid 10001 --gid aistack --create-home --home-dir /home/aistack \
        --shell /usr/sbin/nologin aistack

WORKDIR /app

COPY --from=builder /opt/venv /opt/venv
COPY . .

# Static files are collected into staticfiles/ at build time (whitenoise serves them). The production settings only
# load with SECRET_KEY, DATABASE_URL and ALLOWED_HOSTS set: these throwaway values exist for this command alone and
# no database is contacted. The code stays owned by root; only media/ (uploads) is writable by the app user.
RUN SECRET_KEY=build-only-collectstatic \
    DATABASE_URL=postgres://build:build@127.0.0.1:5432/build \
    ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput \
    && python manage.py compile_catalogues \
    && python -m compileall -q aistack apps \
    && mkdir -p media \
    && chown aistack:aistack media

# The aistack user, by numeric id so that runtimes can verify that the container does not run as root.
USER 10001:10001

EXPOSE 8000

# Liveness: /healthz answers 200. The probe sends the first ALLOWED_HOSTS entry as Host header so that Django's host
# validation accepts it ("*" and ".example.com" style entries are turned into a matching name).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os,urllib.request as r;h=os.environ.get('ALLOWED_HOSTS','').split(',')[0].strip().lstrip('*.') or 'localhost';r.urlopen(r.Request('http://127.0.0.1:8000/healthz',headers={'Host':h}),timeout=4)"]

# gthread workers: a streamed chat answer (server-sent events) holds one thread, not a whole process, for its
# duration; GUNICORN_THREADS threads per worker (4: measured in benchmarks/RESULTS.md, more threads per process add
# GIL contention to the latency tail of fast reads), a timeout long enough for slow upstream models.
# gunicorn workers share their Prometheus metrics through PROMETHEUS_MULTIPROC_DIR, emptied at every start, so that
# /metrics reports the totals of all workers whichever worker answers the scrape.
CMD ["sh", "-c", "export PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus-multiproc && rm -rf \"$PROMETHEUS_MULTIPROC_DIR\" && mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && exec gunicorn aistack.wsgi:application --bind 0.0.0.0:8000 --workers \"${GUNICORN_WORKERS:-3}\" --worker-class \"${GUNICORN_WORKER_CLASS:-gthread}\" --threads \"${GUNICORN_THREADS:-4}\" --timeout 180 --worker-tmp-dir /dev/shm --access-logfile - --error-logfile -"]
