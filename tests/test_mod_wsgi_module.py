"""The importable mod_wsgi module: attributes applications read, and
subscribe_shutdown() callbacks at process shutdown (both modes)."""

import json
import os
import time

import pytest

pytestmark = pytest.mark.both_modes  # rerun in daemon mode (see conftest.py)

APP = """
import json, os, mod_wsgi
def _stopping(event, **kw):
    with open(os.path.join(%(root)r, "stopping-%%d" %% os.getpid()), "w") as f:
        json.dump({"event": event, **kw}, f)
mod_wsgi.subscribe_shutdown(_stopping)
def application(environ, start_response):
    start_response("200 OK", [])
    return [json.dumps({"pid": os.getpid(), "version": mod_wsgi.version,
        "process_group": mod_wsgi.process_group, "maximum_processes": mod_wsgi.maximum_processes,
        "threads_per_process": mod_wsgi.threads_per_process,
        "file_wrapper": mod_wsgi.FileWrapper is environ["wsgi.file_wrapper"]}).encode()]
"""


def test_module_attributes_and_shutdown_callbacks(apache):
    srv = apache("WSGIScriptAlias /a {root}/a.wsgi", start=False)
    os.chmod(srv.root, 0o1777)  # the app (www-data) writes its marker here (sticky: see WSGISocketPrefix in README)
    srv.write_file("a.wsgi", APP % {"root": srv.root})
    srv.start()
    info = srv.get("/a").json()
    assert info["version"] == [4, 9, 4] and info["file_wrapper"] is True
    if srv.mode == "daemon":
        # The harness's daemon group: processes=1 threads=4.
        assert (info["process_group"], info["maximum_processes"], info["threads_per_process"]) == ("testdaemon", 1, 4)
    else:
        assert info["process_group"] == "" and info["maximum_processes"] >= 1 and info["threads_per_process"] >= 1
    srv.stop()
    marker = srv.path("stopping-%d" % info["pid"])
    deadline = time.monotonic() + 5
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    with open(marker) as f:
        got = json.load(f)
    assert got["event"] == "process_stopping" and got["shutdown_reason"] == "shutdown_signal"
