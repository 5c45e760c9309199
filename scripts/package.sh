#!/usr/bin/env bash
# Builds the Debian package libapache2-mod-rwsgi from this checkout with
# dpkg-deb and prints the path of the .deb as its last line.
#
#   scripts/package.sh                       # version from Cargo.toml + "-1"
#   RWSGI_DEB_VERSION=0.1.0-0 scripts/package.sh   # another version (the upgrade test builds one)
#   RWSGI_DEB_OUT=DIR scripts/package.sh     # where the .deb goes (default target/debian)
#
# Contents: the module as /usr/lib/apache2/modules/mod_rwsgi.so, conf/rwsgi.load
# and conf/rwsgi.conf as conffiles in /etc/apache2/mods-available/, the
# maintainer scripts of packaging/debian/, and /usr/bin/rwsgi-express (with a
# man page) when the workspace build produces it. Depends are computed from
# what the module was built against: the Apache module API (ap_mmn.h), the
# Python minor version, and the shared libraries (dpkg-shlibdeps).
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."
repo=$(pwd)

need=()
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v apxs >/dev/null || need+=(apache2-dev)
if ((${#need[@]})) || { ! command -v cargo >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo" ]; }; then
    scripts/setup.sh >&2
fi
export PATH="$HOME/.cargo/bin:$PATH"
export PYO3_PYTHON=/usr/bin/python3

# Timestamps of the package's files: the last commit's (same sources, same .deb).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

cargo build --release --locked --workspace >&2

pkg=libapache2-mod-rwsgi
upstream=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
version=${RWSGI_DEB_VERSION:-$upstream-1}
arch=$(dpkg --print-architecture)
out=${RWSGI_DEB_OUT:-$repo/target/debian}
maintainer=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' packaging/debian/changelog | head -1)

# The Apache module API the module was compiled for: Debian's apache2-bin
# provides "apache2-api-<MODULE_MAGIC_NUMBER_MAJOR>".
include=$(apxs -q INCLUDEDIR)
mmn=$(sed -n 's/^#define MODULE_MAGIC_NUMBER_MAJOR \([0-9]*\).*/\1/p' "$include/ap_mmn.h")
api=apache2-api-$mmn
if ! dpkg-query -W -f='${Provides}' apache2-bin | tr ',' '\n' | grep -qx " *$api"; then
    echo "package.sh: installed apache2-bin does not provide $api" >&2
    exit 1
fi
apache_version=$(dpkg-query -W -f='${Version}' apache2-bin | sed 's/-[^-]*$//')
py=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
pynext=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % (sys.version_info[0], sys.version_info[1] + 1))')

work=$(mktemp -d /tmp/rwsgi-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
install -d -m 755 "$root"
doc=$root/usr/share/doc/$pkg
install -d -m 755 "$root/DEBIAN" "$root/usr/lib/apache2/modules" "$root/etc/apache2/mods-available" "$doc/examples"

# Stripped as dh_strip does (the release profile keeps line tables for backtraces).
strip_to() { strip --remove-section=.comment --remove-section=.note --strip-unneeded -o "$2" "$1"; chmod 644 "$2"; }
strip_to target/release/libmod_rwsgi.so "$root/usr/lib/apache2/modules/mod_rwsgi.so"
# The program the module execs for each daemon process, found beside the module.
strip_to target/release/rwsgi-daemon "$root/usr/lib/apache2/modules/rwsgi-daemon"
chmod 755 "$root/usr/lib/apache2/modules/rwsgi-daemon"
install -m 644 conf/rwsgi.load conf/rwsgi.conf "$root/etc/apache2/mods-available/"
install -m 644 packaging/debian/copyright packaging/debian/README.Debian "$doc/"
install -d -m 755 "$root/usr/share/lintian/overrides"
install -m 644 packaging/debian/lintian-overrides "$root/usr/share/lintian/overrides/$pkg"
install -m 644 conf/example-site.conf conf/example/app.wsgi "$doc/examples/"
elfs=("$root/usr/lib/apache2/modules/mod_rwsgi.so" "$root/usr/lib/apache2/modules/rwsgi-daemon")

if [ -x target/release/rwsgi-express ]; then
    install -d -m 755 "$root/usr/bin" "$root/usr/share/man/man1"
    strip_to target/release/rwsgi-express "$root/usr/bin/rwsgi-express"
    chmod 755 "$root/usr/bin/rwsgi-express"
    elfs+=("$root/usr/bin/rwsgi-express")
    if [ -f packaging/debian/rwsgi-express.1 ]; then
        cp packaging/debian/rwsgi-express.1 "$work/rwsgi-express.1"
    else
        # No hand-written page yet: one made from the program's own --help.
        {
            printf '.TH RWSGI-EXPRESS 1 "%s" "%s" "User Commands"\n' "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)" "$upstream"
            printf '.SH NAME\nrwsgi-express \\- run a WSGI application under Apache with mod_rwsgi\n'
            printf '.SH DESCRIPTION\n.nf\n'
            target/release/rwsgi-express --help 2>&1 | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
            printf '.fi\n.SH SEE ALSO\n/usr/share/doc/%s/\n' "$pkg"
        } >"$work/rwsgi-express.1"
    fi
    gzip -9n -c "$work/rwsgi-express.1" >"$root/usr/share/man/man1/rwsgi-express.1.gz"
    chmod 644 "$root/usr/share/man/man1/rwsgi-express.1.gz"
fi

# changelog.Debian: packaging/debian/changelog, with an entry for a version given
# through RWSGI_DEB_VERSION on top.
{
    if ! grep -q "^$pkg ($version)" packaging/debian/changelog; then
        printf '%s (%s) unstable; urgency=medium\n\n  * Local build of %s.\n\n -- %s  %s\n\n' \
            "$pkg" "$version" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
            "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
    fi
    cat packaging/debian/changelog
} | gzip -9n >"$doc/changelog.Debian.gz"
chmod 644 "$doc/changelog.Debian.gz" "$doc/examples/"*

# Shared-library dependencies (libc6, libgcc-s1, libpython3.X) as dh_shlibdeps finds them.
mkdir -p "$work/src/debian"
printf 'Source: mod-rwsgi\n\nPackage: %s\nArchitecture: any\n' "$pkg" >"$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "${elfs[@]}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "package.sh: dpkg-shlibdeps found nothing" >&2; exit 1; }

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@MAINTAINER@/$maintainer/" \
    -e "s/@SIZE@/$size/" -e "s/@API@/$api/" -e "s/@APACHE_VERSION@/$apache_version/" \
    -e "s/@PY@/$py/" -e "s/@PYNEXT@/$pynext/" -e "s/@SHLIBS@/$shlibs/" \
    packaging/debian/control.in >"$root/DEBIAN/control"
install -m 755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
printf '/etc/apache2/mods-available/rwsgi.conf\n/etc/apache2/mods-available/rwsgi.load\n' >"$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
deb=$out/${pkg}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
