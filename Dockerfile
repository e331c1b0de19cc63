# syntax=docker/dockerfile:1
# Multi-stage build: the runtime dependencies (no dev extras) are installed from the hashed
# requirements-runtime.lock into /opt/venv in the builder; the runtime image copies only that
# venv and runs as an unprivileged user. Network policy: see docs/security.md.
FROM python:3.11.11-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements-runtime.lock ./
RUN pip install --require-hashes --only-binary=:all: -r requirements-runtime.lock
COPY . .
RUN pip install --no-deps .

FROM python:3.11.11-slim-bookworm AS runtime
# a numeric, unprivileged user (Kubernetes' runAsNonRoot can verify it) owning the state volume
RUN groupadd --system --gid 10001 b2sync \
    && useradd --system --uid 10001 --gid b2sync --home-dir /var/lib/b2sync --create-home \
       --shell /usr/sbin/nologin b2sync \
    && install -d -o b2sync -g b2sync -m 0750 /var/lib/b2sync/state
COPY --from=builder /opt/venv /opt/venv
# the production template (OAuth for Salesforce, system CAs, every secret a ${VAR} reference):
# mount your own config over it or set the variables it names
COPY deploy/config.production.yaml /etc/b2sync/config.yaml
# MALLOC_ARENA_MAX: glibc gives every thread that allocates an arena of its own, and the
# daemon's pipelines, write pools and webhook lanes are ~70 threads: two arenas kept a
# 100,000-customer backfill's peak RSS at 543 MB instead of 730 (docs/performance.md)
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    B2SYNC_CONFIG=/etc/b2sync/config.yaml
WORKDIR /var/lib/b2sync
# the SQLite store (state/b2sync.db) lives here: keep it on a volume (or use PostgreSQL)
VOLUME ["/var/lib/b2sync"]
USER 10001:10001
# One port: webhooks, /healthz, /readyz, /api/status (bearer) and /metrics. The daemon listens
# on all interfaces here, so /metrics answers 403 until http.metrics_token is set (e.g.
# `metrics_token: ${B2SYNC_METRICS_TOKEN}`); expose only /webhooks/* through the ingress.
EXPOSE 8765
# slim images have no curl: probe /healthz with the interpreter we ship
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=4).status == 200 else 1)"]
# the daemon must listen on all interfaces inside the container
CMD ["b2sync", "run", "--listen", "0.0.0.0:8765"]
