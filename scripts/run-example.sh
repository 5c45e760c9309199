#!/usr/bin/env bash
# Installs what is missing, builds mod_rwsgi, and serves conf/example/app.wsgi
# through Debian's Apache in the foreground at http://127.0.0.1:8000/ until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
listen=${LISTEN:-127.0.0.1:8000}
root=$(mktemp -d /tmp/rwsgi-example.XXXXXX)
chmod 755 "$root"
cp target/release/libmod_rwsgi.so "$root/mod_rwsgi.so"
cp conf/example/app.wsgi "$root/app.wsgi"
chmod 644 "$root"/*
cat >"$root/httpd.conf" <<CONF
ServerRoot $root
DefaultRuntimeDir $root
PidFile $root/httpd.pid
ErrorLog /dev/stderr
Listen $listen
ServerName localhost
User www-data
Group www-data
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule rwsgi_module $root/mod_rwsgi.so
LogLevel warn rwsgi:info
WSGIScriptAlias / $root/app.wsgi
WSGIApplicationGroup %{GLOBAL}
<Directory $root>
    Require all granted
</Directory>
CONF
trap 'rm -rf "$root"' EXIT
echo "serving http://$listen/ (Ctrl-C to stop)"
# Not exec: the trap removes the server root when Apache exits.
/usr/sbin/apache2 -f "$root/httpd.conf" -DFOREGROUND
