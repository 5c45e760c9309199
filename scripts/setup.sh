#!/usr/bin/env bash
# Installs whatever is missing on Debian 12 (Debian packages, a Rust toolchain)
# and builds mod_rwsgi and rwsgi-express in release mode. Safe to run again: it only installs
# what is absent. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    apache2 apache2-dev libapr1-dev libaprutil1-dev   # the server and its headers (apxs)
    libclang-dev clang                                # bindgen
    python3 python3-dev python3-venv                  # Debian's CPython, which the module embeds
    python3-pytest python3-flask                      # test suite and the Flask example
    libapache2-mod-wsgi-py3                           # mod_wsgi, the behaviour and speed we compare with
    wrk curl ca-certificates build-essential pkg-config git
    valgrind                                          # bench/run.py --instructions (callgrind)
    prometheus                                        # promtool check metrics (tests/test_metrics_endpoint.py)
    chromium                                          # headless browser for the status page test (tests/test_status_page.py)
    gdb                                               # tells Apache's own known exit crash from ours (tests/harness.py)
    dpkg-dev lintian                                  # scripts/package.sh (dpkg-shlibdeps) and its check
    debootstrap                                       # docker/build.sh: the base image, without a registry
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing packages and not root; run as root (or install them)" >&2
        exit 1
    fi
    # Installing Debian's apache2 would start its default site on port 80; a
    # policy-rc.d keeps package installation from starting services.
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "setup: installing a Rust toolchain with rustup"
        curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
fi

# clippy runs in the test command; a minimal rustup profile lacks it.
if ! cargo clippy --version >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
    rustup component add clippy
fi

# The test command runs each fuzz target briefly (fuzz/, cargo-fuzz from crates.io).
if ! command -v cargo-fuzz >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo-fuzz" ]; then
    cargo install cargo-fuzz --locked
fi

# Build against Debian's Python: Apache's children run as www-data and must be
# able to read the interpreter's files.
export PYO3_PYTHON=/usr/bin/python3
cargo build --release --locked --workspace
echo "setup: built $(pwd)/target/release/libmod_rwsgi.so and $(pwd)/target/release/rwsgi-express"
