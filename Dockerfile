# syntax=docker/dockerfile:1
# Multi-stage build: the runtime dependencies (no dev extras) are installed from the hashed
# requirements-runtime.lock into /opt/venv in the builder; the runtime image copies only that
# venv and runs as an unprivileged user. Network policy: see docs/security.md.
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements-runtime.lock ./
RUN pip install --require-hashes --only-binary=:all: -r requirements-runtime.lock
COPY . .
RUN pip install --no-deps .

FROM python:3.11-slim AS runtime
RUN groupadd --system b2sync && useradd --system --gid b2sync --home-dir /var/lib/b2sync --create-home b2sync
COPY --from=builder /opt/venv /opt/venv
COPY config.yaml /etc/b2sync/config.yaml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    B2SYNC_CONFIG=/etc/b2sync/config.yaml
WORKDIR /var/lib/b2sync
USER b2sync
# One port: webhooks, /healthz, /readyz, /api/status (bearer) and /metrics. The daemon listens
# on all interfaces here, so /metrics answers 403 until http.metrics_token is set (e.g.
# `metrics_token: ${B2SYNC_METRICS_TOKEN}`); expose only /webhooks/* through the ingress.
EXPOSE 8765
# slim images have no curl: probe /healthz with the interpreter we ship
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=4).status == 200 else 1)"]
# the daemon must listen on all interfaces inside the container
CMD ["b2sync", "run", "--listen", "0.0.0.0:8765"]
