"""Applications' atexit callbacks run when a process shuts down, in both modes."""

import os
import time

import pytest

pytestmark = pytest.mark.both_modes  # rerun in daemon mode (see conftest.py)

APP = """
import atexit, os
def _bye():
    with open(os.path.join(%(root)r, "atexit-%%d" %% os.getpid()), "w") as f:
        f.write("ran")
atexit.register(_bye)
def application(environ, start_response):
    start_response("200 OK", [])
    return [str(os.getpid()).encode()]
"""


def test_atexit_callbacks_run_at_shutdown(apache):
    srv = apache("WSGIScriptAlias /a {root}/a.wsgi", start=False)
    os.chmod(srv.root, 0o1777)  # the app (www-data) writes its marker here (sticky: see WSGISocketPrefix in README)
    srv.write_file("a.wsgi", APP % {"root": srv.root})
    srv.start()
    pid = int(srv.get("/a").body)
    srv.stop()
    marker = srv.path("atexit-%d" % pid)
    deadline = time.monotonic() + 5
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.exists(marker), "the atexit callback of process %d did not run" % pid
