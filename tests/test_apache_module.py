"""`import apache` (mod_wsgi's companion module) and `mod_wsgi.version`, in
both modes, compared attribute by attribute with Debian's mod_wsgi 4.9.4."""

import os

import pytest

from harness import ApacheServer, MOD_WSGI_PATH

pytestmark = pytest.mark.both_modes  # rerun in daemon mode (see conftest.py)

APP = """
import json, apache, mod_wsgi
def application(environ, start_response):
    attrs = {n: [type(v).__name__, list(v) if isinstance(v, tuple) else v]
             for n, v in vars(apache).items() if not n.startswith("_")}
    out = {"apache": attrs,
           "mod_wsgi.version": [type(mod_wsgi.version).__name__, list(mod_wsgi.version)],
           "environ_version": list(environ["mod_wsgi.version"]),
           "request_start": type(environ["mod_wsgi.request_start"]).__name__,
           "script_start": type(environ.get("mod_wsgi.script_start")).__name__,
           "process_group": mod_wsgi.process_group,
           "mod_wsgi_sizes": [mod_wsgi.maximum_processes, mod_wsgi.threads_per_process]}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(out).encode()]
"""

CONFIG = "WSGIScriptAlias / {root}/app.wsgi"

ATTRIBUTES = {"version", "description", "mpm_name", "build_date", "maximum_processes", "threads_per_process"}


def answer(module, mpm="event"):
    srv = ApacheServer(module=module, mpm=mpm, config=CONFIG, apps={"app.wsgi": APP})
    if module == "wsgi":
        srv.bad_log_patterns = []  # 4.9.4's child-exit crash (see test_environ.py)
    srv.start()
    try:
        r = srv.get("/")
        assert r.status == 200, r
        out = r.json()
        srv.stop(check_log=module != "wsgi")
        return srv, out
    finally:
        srv.stop(check_log=False)
        srv.cleanup()


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_apache_module_attributes(module_under_test, mpm):
    srv, out = answer(module_under_test, mpm)
    attrs = out["apache"]
    assert set(attrs) == ATTRIBUTES, attrs
    kind, version = attrs["version"]
    assert kind == "tuple" and len(version) == 3 and all(isinstance(p, int) for p in version)
    assert version[:2] == [2, 4]
    assert attrs["mpm_name"] == ["str", mpm]
    assert attrs["description"][0] == "str" and attrs["description"][1].startswith("Apache/2.4.")
    assert attrs["build_date"][0] == "str" and attrs["build_date"][1]
    # The test servers' sizing: event 4 threads in a child; prefork 1 thread.
    assert attrs["threads_per_process"] == ["int", 4 if mpm == "event" else 1]
    assert attrs["maximum_processes"][0] == "int" and attrs["maximum_processes"][1] >= 1
    if srv.mode == "embedded":
        # In embedded mode the application's process model is Apache's own.
        assert out["mod_wsgi_sizes"][1] == attrs["threads_per_process"][1]
    else:
        # A daemon process still reports the Apache that forked it, not its group.
        assert out["process_group"] == "testdaemon" and out["mod_wsgi_sizes"] == [1, 4]
    if module_under_test == "rwsgi":
        assert "mod_rwsgi/" in attrs["description"][1]


def test_mod_wsgi_version_names_the_api_it_gets(module_under_test):
    # (4, 9, 4): the environ and module API of mod_wsgi 4.9.4, whose value
    # types differ from mod_wsgi 5 and 6 (there request_start is a float and
    # script_start is called application_start).
    _, out = answer(module_under_test)
    assert out["mod_wsgi.version"] == ["tuple", [4, 9, 4]]
    assert out["environ_version"] == [4, 9, 4]
    assert out["request_start"] == "str" and out["script_start"] == "str"


@pytest.mark.skipif(not os.path.exists(MOD_WSGI_PATH), reason="Debian's mod_wsgi is not installed")
@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_same_as_mod_wsgi(mpm):
    (_, ours), (_, theirs) = answer("rwsgi", mpm), answer("wsgi", mpm)
    mine, ref = ours["apache"], theirs["apache"]
    assert {k: v[0] for k, v in mine.items()} == {k: v[0] for k, v in ref.items()}
    # The same Apache binary and configuration: the same facts, except the
    # description, which names the loaded module, and the version, which
    # mod_wsgi takes from the headers it was compiled against.
    for key in ("mpm_name", "build_date", "maximum_processes", "threads_per_process"):
        assert mine[key] == ref[key], key
    assert mine["version"][1][:2] == ref["version"][1][:2]
    assert "mod_wsgi/4.9.4" in ref["description"][1] and "mod_rwsgi/" in mine["description"][1]
    assert ours["mod_wsgi.version"] == theirs["mod_wsgi.version"]
    assert (ours["request_start"], ours["script_start"]) == (theirs["request_start"], theirs["script_start"])
