#!/usr/bin/env bash
# The whole test suite: unit tests (cargo test) and integration tests that run
# Debian's real Apache with generated configurations (pytest), first with the
# applications embedded in Apache's children, then with the WSGI behaviour
# tests (marked both_modes) routed through a daemon process group. Installs
# what is missing and builds first. .ci/run runs exactly this.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
export PYO3_PYTHON=/usr/bin/python3
status=0
cargo test --release --locked --workspace || status=1
# Lints, including the denied unsafe_op_in_unsafe_fn and undocumented_unsafe_blocks.
cargo clippy --release --locked --workspace --all-targets -- -D warnings || status=1
# Every fuzz target for a few seconds (the long campaigns: README, Fuzzing).
for target in protocol relay headers config launch; do
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time=5 >/dev/null 2>&1) || { echo "test.sh: fuzz target $target failed" >&2; status=1; }
done
export RWSGI_MODULE="$(pwd)/target/release/libmod_rwsgi.so"
# The package and Docker tests (tests/test_package.py, test_docker.py,
# test_compose.py) build the .deb and the images themselves; without Docker
# or docker-compose they are skipped with one line, unless CI=true.
for tool in docker docker-compose; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        if [ "${CI:-}" = true ]; then
            echo "test.sh: $tool is missing and CI=true: the Docker tests will fail" >&2
        else
            echo "test.sh: $tool is missing: the Docker tests will be skipped" >&2
        fi
    fi
done
# Debian's interpreter: Apache's children (www-data) must be able to read it.
# (rwsgi-express's integration tests are tests/test_express.py; setup.sh built
# the whole workspace: the module, rwsgi-daemon beside it, rwsgi-express.)
/usr/bin/python3 -m pytest tests "$@" || status=1
# The same WSGI behaviour (the tests marked both_modes), through the daemon transport.
/usr/bin/python3 -m pytest tests --mode=daemon "$@" || status=1
# The benchmark script must keep working (not a measurement: one short round).
/usr/bin/python3 bench/run.py --smoke --servers "static,mod_rwsgi embedded,mod_rwsgi daemon" >/dev/null || status=1
/usr/bin/python3 bench/run.py --instructions --workloads hello --servers "mod_rwsgi embedded" >/dev/null || status=1
# The load-and-fault script, scaled down: every experiment (fails when a
# figure is out of its bound; README, "Under load and faults").
/usr/bin/python3 bench/faults.py --quick >/dev/null || status=1
if [ "$status" -ne 0 ]; then
    echo "test.sh: FAILED" >&2
fi
exit "$status"
