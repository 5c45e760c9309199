#!/usr/bin/env bash
# The whole test suite: unit tests (cargo test) and integration tests that run
# Debian's real Apache with generated configurations (pytest). Installs what is
# missing and builds first. .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export PYO3_PYTHON=/usr/bin/python3
cargo test --release --locked
export RWSGI_MODULE="$(pwd)/target/release/libmod_rwsgi.so"
# Debian's interpreter: Apache's children (www-data) must be able to read it.
/usr/bin/python3 -m pytest tests "$@"
