#!/usr/bin/env bash
# Builds mod_rwsgi, rwsgi-daemon and rwsgi-express; installs the module into
# Apache's module directory (`apxs -q LIBEXECDIR`) with the rwsgi-daemon
# program beside it (the module execs it for each daemon process and looks for
# it in the directory it was loaded from), Debian's mods-available files when
# present, and the rwsgi-express binary into $BINDIR (default /usr/local/bin).
# Then: a2dismod wsgi; a2enmod rwsgi; systemctl restart apache2
set -euo pipefail
cd "$(dirname "$0")/.."
APXS=${APXS:-apxs}
export PYO3_PYTHON=${PYO3_PYTHON:-/usr/bin/python3}
cargo build --release --locked --workspace
libexec=$("$APXS" -q LIBEXECDIR)
sysconf=$("$APXS" -q SYSCONFDIR)
install -m 644 target/release/libmod_rwsgi.so "$libexec/mod_rwsgi.so"
install -m 755 target/release/rwsgi-daemon "$libexec/rwsgi-daemon"
echo "installed $libexec/mod_rwsgi.so and $libexec/rwsgi-daemon"
if [ -d "$sysconf/mods-available" ]; then
    sed "s#/usr/lib/apache2/modules#$libexec#" conf/rwsgi.load >"$sysconf/mods-available/rwsgi.load"
    install -m 644 conf/rwsgi.conf "$sysconf/mods-available/rwsgi.conf"
    echo "installed $sysconf/mods-available/rwsgi.{load,conf}; enable with: a2dismod wsgi; a2enmod rwsgi"
else
    echo "add to httpd.conf: LoadModule rwsgi_module $libexec/mod_rwsgi.so"
fi
bindir=${BINDIR:-/usr/local/bin}
install -d "$bindir"
install -m 755 target/release/rwsgi-express "$bindir/rwsgi-express"
echo "installed $bindir/rwsgi-express (it loads $libexec/mod_rwsgi.so; try: rwsgi-express start-server app.wsgi)"
