#!/bin/sh
# Install b2sync as the systemd service deploy/b2sync.service expects, from this checkout:
#   sudo sh deploy/install-systemd.sh
# It creates the b2sync system user, the venv /opt/b2sync/venv (runtime lock, hashes checked),
# the docs under /opt/b2sync/docs, /etc/b2sync/config.yaml (the production template, 0640
# root:b2sync) and /etc/b2sync/b2sync.env (0600 root:root, to fill in), and the unit. An
# existing config or env file is kept. /var/lib/b2sync and its state/ directory are made by
# systemd (StateDirectory=). DESTDIR=/path installs the files under that root only (no user,
# no systemctl); B2SYNC_SKIP_VENV=1 leaves the venv out.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
root=${DESTDIR:-}

if [ -z "$root" ] && ! id b2sync >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/b2sync --no-create-home --shell /usr/sbin/nologin b2sync
fi

if [ -z "${B2SYNC_SKIP_VENV:-}" ]; then
    python3 -m venv "$root/opt/b2sync/venv"
    "$root/opt/b2sync/venv/bin/pip" install --quiet --require-hashes -r "$src/requirements-runtime.lock"
    "$root/opt/b2sync/venv/bin/pip" install --quiet --no-deps "$src"
fi

install -d -m 0755 "$root/opt/b2sync/docs"
cp -R "$src/docs/." "$root/opt/b2sync/docs/"

install -d -m 0755 "$root/etc/b2sync"
if [ ! -e "$root/etc/b2sync/config.yaml" ]; then
    install -m 0640 "$src/deploy/config.production.yaml" "$root/etc/b2sync/config.yaml"
fi
if [ ! -e "$root/etc/b2sync/b2sync.env" ]; then
    install -m 0600 "$src/deploy/b2sync.env.example" "$root/etc/b2sync/b2sync.env"
fi
install -d -m 0755 "$root/etc/systemd/system"
install -m 0644 "$src/deploy/b2sync.service" "$root/etc/systemd/system/b2sync.service"

if [ -z "$root" ]; then
    chown root:b2sync /etc/b2sync/config.yaml
    chown root:root /etc/b2sync/b2sync.env
    systemctl daemon-reload
    echo "next: fill in /etc/b2sync/b2sync.env, check it with"
    echo "  sudo -u b2sync env \$(grep -v '^#' /etc/b2sync/b2sync.env | xargs) /opt/b2sync/venv/bin/b2sync check --strict"
    echo "then: systemctl enable --now b2sync"
fi
