"""Pytest fixtures for the Apache integration tests.

Run with the system interpreter (Apache children run as www-data and cannot
read a pyenv under /root):

    /usr/bin/python3 -m pytest tests                 # against mod_rwsgi
    /usr/bin/python3 -m pytest tests --module=wsgi   # same tests against mod_wsgi 4.9.4
    RWSGI_TEST_MODULE=wsgi /usr/bin/python3 -m pytest tests
    /usr/bin/python3 -m pytest tests --mode=daemon   # the both_modes tests, through a daemon group

--mode=daemon (or env RWSGI_TEST_MODE=daemon) gives every test server a daemon
process group that the whole server is routed to, and runs only the tests
marked both_modes (module-level ``pytestmark = pytest.mark.both_modes``: the
WSGI behaviour tests); the others are deselected. The default, embedded, runs
every test.

Env: RWSGI_MODULE=<path to .so> (default target/release/libmod_rwsgi.so),
RWSGI_TEST_KEEP=1 keeps the server roots under /tmp for inspection.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import ApacheServer, make_world_readable_dir, write_world_readable  # noqa: E402

# The daemon tests' shared application, helpers and server fixtures
# (main_srv, sup_srv, venv_dir): tests/daemon_helpers.py.
pytest_plugins = ["daemon_helpers"]


def pytest_addoption(parser):
    parser.addoption(
        "--module",
        action="store",
        default=None,
        choices=sorted(harness.MODULES),
        help="Apache module under test: rwsgi (default, or env RWSGI_TEST_MODULE) or wsgi (Debian mod_wsgi)",
    )
    parser.addoption(
        "--mpm",
        action="store",
        default=None,
        choices=sorted(harness.MPM_SIZING),
        help="default MPM for the apache fixture (default event)",
    )
    parser.addoption(
        "--mode",
        action="store",
        default=None,
        choices=["daemon", "embedded"],
        help="where applications run: embedded (default, or env RWSGI_TEST_MODE) runs every test; "
        "daemon routes every test server through a daemon process group and runs only the tests "
        "marked both_modes",
    )


def pytest_configure(config):
    # The harness reads the mode from the environment (every ApacheServer,
    # also those a test makes itself): --mode sets it there.
    mode = config.getoption("--mode")
    if mode is not None:
        os.environ["RWSGI_TEST_MODE"] = mode
    try:
        harness.default_mode()
    except ValueError as e:  # a bad RWSGI_TEST_MODE: refused before anything runs
        raise pytest.UsageError(str(e))


def pytest_collection_modifyitems(config, items):
    """Daemon mode runs only the both_modes tests; the others are deselected."""
    if harness.default_mode() != "daemon":
        return
    selected, deselected = [], []
    for item in items:
        (selected if item.get_closest_marker("both_modes") else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture(scope="session")
def module_under_test(request):
    return request.config.getoption("--module") or harness.default_module()


@pytest.fixture(scope="session")
def default_mpm(request):
    return request.config.getoption("--mpm") or "event"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def apache(request, module_under_test, default_mpm):
    """Factory: apache(config="...", apps={...}, module=..., mpm=..., start=True) -> ApacheServer.

    Every server made is stopped at teardown; its error log is checked for
    crash/panic lines (unless the test failed already, then the log tail is
    attached to the report instead).  Set srv.bad_log_patterns = [] in a test
    that provokes a crash on purpose.
    """
    servers = []

    def make(config="", apps=None, module=None, mpm=None, start=True, **kw):
        srv = ApacheServer(
            module=module or module_under_test,
            mpm=mpm or default_mpm,
            config=config,
            apps=apps,
            **kw,
        )
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield make

    failed = any(
        getattr(request.node, "rep_" + w, None) is not None and getattr(request.node, "rep_" + w).failed
        for w in ("setup", "call")
    )
    errors = []
    for srv in servers:
        try:
            srv.stop(check_log=False)
            if failed:
                request.node.add_report_section(
                    "teardown", "error.log %s" % srv.root, srv.error_log()[-6000:]
                )
            else:
                srv.check_log()
        except AssertionError as e:
            errors.append(str(e))
        finally:
            srv.cleanup()
    if errors:
        pytest.fail("\n".join(errors))


class AppDir:
    """A world-readable directory under /tmp for WSGI scripts and other files."""

    def __init__(self, path):
        self.path = path

    def __str__(self):
        return self.path

    def __fspath__(self):
        return self.path

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def write(self, name, text, dedent=True):
        """Write a file (dedented, mode 0644); returns its absolute path."""
        return write_world_readable(self.join(name), text, dedent=dedent)

    def copy(self, name, dest=None):
        """Copy tests/apps/<name> here; returns its absolute path."""
        with open(os.path.join(harness.APPS_DIR, name), "rb") as f:
            return write_world_readable(self.join(dest or name), f.read())


@pytest.fixture
def app_dir():
    """AppDir under /tmp (mode 0755), removed after the test (kept if RWSGI_TEST_KEEP=1)."""
    import shutil

    d = make_world_readable_dir(prefix="rwsgi-apps-")
    yield AppDir(d)
    if os.environ.get("RWSGI_TEST_KEEP") != "1":
        shutil.rmtree(d, ignore_errors=True)
