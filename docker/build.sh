#!/usr/bin/env bash
# Builds the Docker image mod_rwsgi:latest: Debian 12's apache2 and python3 with
# the libapache2-mod-rwsgi package of this checkout (scripts/package.sh)
# installed by apt. Prints the image name as its last line.
#
# No registry is needed: the base image (rwsgi-base:bookworm) is made with
# debootstrap from the Debian mirror this machine uses, once, and reused for as
# long as it exists (docker image rm rwsgi-base:bookworm, or
# RWSGI_REBUILD_BASE=1, makes it again).
#
#   docker/build.sh                     # -> mod_rwsgi:latest
#   RWSGI_IMAGE=name:tag docker/build.sh
#   RWSGI_DEB=path.deb docker/build.sh  # an already built package
#   docker/build.sh --base-only         # only the base image (for other images FROM it)
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."
repo=$(pwd)

base=${RWSGI_BASE_IMAGE:-rwsgi-base:bookworm}
image=${RWSGI_IMAGE:-mod_rwsgi:latest}
suite=bookworm

command -v docker >/dev/null || { echo "build.sh: docker is not installed" >&2; exit 1; }

# The mirror apt uses on this machine (deb822 sources first, then sources.list).
mirror() {
    local m=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        m=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / '"$suite"'( |$)/ {print u; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m=$(awk '$1 == "deb" && $3 == "'"$suite"'" {print $2; exit}' /etc/apt/sources.list)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

build_base() {
    if ! command -v debootstrap >/dev/null; then
        echo "build.sh: installing debootstrap" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    local dir m
    dir=$(mktemp -d /tmp/rwsgi-rootfs.XXXXXX)
    rootfs=$dir
    m=$(mirror)
    echo "build.sh: debootstrap --variant=minbase $suite from $m (once; cached as $base)" >&2
    debootstrap --variant=minbase "$suite" "$dir" "$m" >&2
    # The same apt sources as this machine (security and updates included), so
    # the image gets the versions the package was built against.
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        rm -f "$dir/etc/apt/sources.list"
        cp /etc/apt/sources.list.d/debian.sources "$dir/etc/apt/sources.list.d/debian.sources"
    fi
    # Slim, as Debian's own container images: no documentation but the copyright
    # files, no downloaded .debs kept, no package lists in the image.
    cat >"$dir/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$dir/usr/share/man/"* "$dir/usr/share/info/"* "$dir/var/lib/apt/lists/"* \
        "$dir/var/cache/apt/"*.bin "$dir/var/cache/apt/archives/"*.deb "$dir/var/log/"*.log "$dir/var/log/apt/"*
    : >"$dir/etc/machine-id"
    tar -C "$dir" --numeric-owner -c . | docker import --change 'CMD ["/bin/bash"]' - "$base" >&2
    rm -rf "$dir"
    rootfs=
}

rootfs=
ctx=
trap 'rm -rf ${rootfs:+"$rootfs"} ${ctx:+"$ctx"}' EXIT

if [ "${RWSGI_REBUILD_BASE:-0}" = 1 ] || ! docker image inspect "$base" >/dev/null 2>&1; then
    build_base
else
    echo "build.sh: reusing $base" >&2
fi
if [ "${1:-}" = "--base-only" ]; then
    echo "$base"
    exit 0
fi

deb=${RWSGI_DEB:-}
if [ -z "$deb" ]; then
    deb=$(scripts/package.sh | tail -1)
fi
ctx=$(mktemp -d /tmp/rwsgi-image.XXXXXX)
cp docker/Dockerfile docker/apache2-foreground docker/rwsgi-container.conf docker/rwsgi-health.inc docker/health.wsgi docker/site.conf "$ctx/"
cp conf/example/app.wsgi "$ctx/example.wsgi"
cp "$deb" "$ctx/libapache2-mod-rwsgi.deb"
docker build --build-arg "BASE=$base" -t "$image" "$ctx" >&2
echo "build.sh: $image is $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1000000}')" >&2
echo "$image"
