#!/usr/bin/env bash
# Installs what is missing, builds mod_rwsgi and rwsgi-express, and serves
# conf/example/app.wsgi through Debian's Apache in the foreground at
# http://127.0.0.1:8000/ until Ctrl-C. Extra arguments go to
# `rwsgi-express start-server` (e.g. --embedded-mode, --threads 10).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
listen=${LISTEN:-127.0.0.1:8000}
app=conf/example/app.wsgi
# As root, Apache's children run as www-data: when this checkout is not
# readable by them (e.g. under /root), serve a copy of the example instead.
if [ "$(id -u)" = 0 ] && ! runuser -u www-data -- test -r "$app" 2>/dev/null; then
    copy=$(mktemp -d /tmp/rwsgi-example.XXXXXX)
    trap 'rm -rf "$copy"' EXIT
    install -m 644 "$app" "$copy/app.wsgi"
    chmod 755 "$copy"
    app=$copy/app.wsgi
fi
target/release/rwsgi-express start-server "$app" --host "${listen%:*}" --port "${listen##*:}" "$@"
