"""The WSGI environ: compared key by key with Debian's mod_wsgi 4.9.4 for the
same configuration and requests, plus PEP 3333 checks of its values."""

import os

import pytest

from harness import ApacheServer, MOD_WSGI_PATH

pytestmark = pytest.mark.both_modes  # rerun in daemon mode (see conftest.py)

DUMP = """
import json
def application(environ, start_response):
    def plain(v):
        return v if isinstance(v, (str, int, float, bool, type(None))) else list(v) if isinstance(v, tuple) else None
    out = {k: [type(v).__name__, plain(v)] for k, v in environ.items()}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(out).encode()]
"""

CONFIG = """
WSGIScriptAlias /app {root}/env.wsgi
WSGIScriptAlias /auth {root}/env.wsgi pass-authorization=On
WSGIScriptAlias /global {root}/env.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /dir/ {root}/scripts/
WSGIScriptAlias / {root}/env.wsgi
"""

REQUESTS = [
    ("/app", {}),
    ("/app/", {}),
    ("/app/x/y?q=1&r=%20s", {"X-Dash": "2", "X_Under": "1", "Cookie": "a=b", "Authorization": "Basic Zm9vOmJhcg=="}),
    ("/auth/z", {"Authorization": "Basic Zm9vOmJhcg=="}),
    ("/global", {}),
    ("/dir/env.wsgi/more", {}),
    ("/", {}),
    ("/deep/path", {"Content-Type": "text/plain"}),
]

# Keys whose values legitimately differ between the two modules or between runs.
VOLATILE = {"REMOTE_PORT", "mod_wsgi.request_id", "mod_wsgi.request_start", "mod_wsgi.script_start",
            "mod_wsgi.queue_start", "mod_wsgi.daemon_start",
            "mod_wsgi.thread_id", "mod_wsgi.thread_requests", "mod_wsgi.total_requests"}
# Differences by design, each with its reason.
DIFFERENT_BY_DESIGN = {
    "SERVER_SOFTWARE": "names this module instead of mod_wsgi/4.9.4",
    "apache.version": "the running Apache's version; mod_wsgi reports the headers it was compiled against",
    "mod_rwsgi.version": "our own version (only in mod_rwsgi)",
    "wsgi.errors": "our Log object writes lines to the error log directly; mod_wsgi wraps its Log in io.TextIOWrapper",
}


def collect(module, mpm="event"):
    srv = ApacheServer(module=module, mpm=mpm, config=CONFIG, apps={"env.wsgi": DUMP, "scripts/env.wsgi": DUMP})
    # Debian's mod_wsgi 4.9.4 can crash while its children exit (Python 3.11
    # finalisation); that is not what this test is about.
    srv.bad_log_patterns = [] if module == "wsgi" else srv.bad_log_patterns
    srv.start()
    try:
        results = []
        for path, headers in REQUESTS:
            r = srv.get(path, headers=headers)
            assert r.status == 200, (module, path, r)
            env = {}
            for k, (t, v) in r.json().items():
                if isinstance(v, str):
                    v = v.replace(srv.root, "{root}").replace(str(srv.port), "{port}")
                env[k] = (t, v)
            results.append(env)
        srv.stop(check_log=module != "wsgi")
        return results
    finally:
        srv.stop(check_log=False)
        srv.cleanup()


@pytest.mark.skipif(not os.path.exists(MOD_WSGI_PATH), reason="Debian's mod_wsgi is not installed")
@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_environ_matches_mod_wsgi(mpm):
    ours, theirs = collect("rwsgi", mpm), collect("wsgi", mpm)
    for (path, _), mine, ref in zip(REQUESTS, ours, theirs):
        for key in sorted(set(mine) | set(ref)):
            if key in DIFFERENT_BY_DESIGN:
                continue
            if key in VOLATILE:
                assert (key in mine) == (key in ref), (path, key)
                assert mine[key][0] == ref[key][0], (path, key, mine[key], ref[key])
                continue
            assert mine.get(key) == ref.get(key), "%s %s: mod_rwsgi %r, mod_wsgi %r" % (path, key, mine.get(key), ref.get(key))


def test_environ_values(apache):
    srv = apache(CONFIG, apps={"env.wsgi": DUMP, "scripts/env.wsgi": DUMP})
    env = srv.get("/app/x/y?q=1", headers={"X_Under": "1", "Authorization": "Basic eA=="}).json()
    assert env["wsgi.version"] == ["tuple", [1, 0]]
    assert env["wsgi.url_scheme"] == ["str", "http"]
    assert env["wsgi.input_terminated"] == ["bool", True]
    assert env["wsgi.run_once"] == ["bool", False]
    assert env["wsgi.multithread"] == ["bool", True]
    assert env["wsgi.file_wrapper"][0] == "type"
    assert env["SCRIPT_NAME"] == ["str", "/app"] and env["PATH_INFO"] == ["str", "/x/y"]
    assert env["REQUEST_METHOD"] == ["str", "GET"] and env["QUERY_STRING"] == ["str", "q=1"]
    assert env["SERVER_PROTOCOL"] == ["str", "HTTP/1.1"]
    assert env["mod_wsgi.process_group"] == ["str", "testdaemon" if srv.mode == "daemon" else ""]
    assert env["mod_wsgi.application_group"] == ["str", "localhost:%d|/app" % srv.port]
    assert env["mod_wsgi.callable_object"] == ["str", "application"]
    assert env["mod_wsgi.script_reloading"] == ["str", "1"]
    # Headers with underscores are not passed (they could spoof dash-named ones).
    assert not any(k.startswith("HTTP_X_UNDER") for k in env)
    assert "HTTP_AUTHORIZATION" not in env
    assert "PATH" not in env
    assert srv.get("/auth", headers={"Authorization": "Basic eA=="}).json()["HTTP_AUTHORIZATION"] == ["str", "Basic eA=="]
    assert srv.get("/global").json()["mod_wsgi.application_group"] == ["str", ""]
    # Every CGI value is a native str (PEP 3333), including non-ASCII bytes as Latin-1.
    env = srv.get("/app/caf%C3%A9").json()
    assert env["PATH_INFO"] == ["str", "/caf\u00c3\u00a9"]
    assert all(t == "str" for k, (t, v) in env.items() if k.isupper())


def test_pass_authorization_directive(apache):
    srv = apache(
        """
        WSGIScriptAlias /on {root}/env.wsgi
        WSGIScriptAlias /off {root}/env.wsgi
        <Location /on>
            WSGIPassAuthorization On
        </Location>
        """,
        apps={"env.wsgi": DUMP},
    )
    assert srv.get("/on", headers={"Authorization": "Bearer t"}).json()["HTTP_AUTHORIZATION"] == ["str", "Bearer t"]
    assert "HTTP_AUTHORIZATION" not in srv.get("/off", headers={"Authorization": "Bearer t"}).json()


def test_many_distinct_header_names(apache):
    # Header names become environ keys through a bounded cache of their Python
    # strings: more names than it holds (and longer ones) still arrive intact.
    srv = apache(CONFIG, apps={"env.wsgi": DUMP, "scripts/env.wsgi": DUMP})
    for batch in range(4):
        headers = {"X-Name-%d-%d" % (batch, i): "v%d" % i for i in range(90)}
        headers["X-" + "Long" * 40] = "long"
        env = srv.get("/app", headers=headers).json()
        for i in range(90):
            assert env["HTTP_X_NAME_%d_%d" % (batch, i)] == ["str", "v%d" % i]
        assert env["HTTP_X_" + "LONG" * 40] == ["str", "long"]
    # Names seen before still map to their own values.
    env = srv.get("/app", headers={"X-Name-0-1": "again"}).json()
    assert env["HTTP_X_NAME_0_1"] == ["str", "again"]
    assert "HTTP_X_NAME_0_2" not in env
