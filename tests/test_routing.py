"""Routing: WSGIScriptAlias (file and directory targets), WSGIScriptAliasMatch,
the wsgi-script handler, script loading errors, callables and reloading."""

import hashlib
import os
import time

import pytest

pytestmark = pytest.mark.both_modes  # rerun in daemon mode (see conftest.py)

SHOW_PATHS = """
import json
def application(environ, start_response):
    body = json.dumps({k: environ.get(k) for k in
        ("SCRIPT_NAME", "PATH_INFO", "REQUEST_URI", "QUERY_STRING", "SCRIPT_FILENAME", "mod_wsgi.callable_object")}
        | {"name": __name__}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
"""


def test_script_alias_file_target_splits_script_name_and_path_info(apache):
    srv = apache(
        """
        WSGIScriptAlias /app {root}/paths.wsgi
        WSGIScriptAlias / {root}/paths.wsgi
        """,
        apps={"paths.wsgi": SHOW_PATHS},
    )
    cases = {
        "/app": ("/app", ""),
        "/app/": ("/app", "/"),
        "/app/x/y?q=1": ("/app", "/x/y"),
        "/": ("", "/"),
        "/other/thing": ("", "/other/thing"),
        "/appx": ("", "/appx"),
    }
    for path, (script_name, path_info) in cases.items():
        r = srv.get(path)
        assert r.status == 200, (path, r)
        env = r.json()
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == (script_name, path_info), path
        assert env["SCRIPT_FILENAME"] == srv.path("paths.wsgi")
    assert srv.get("/app/x/y?q=1").json()["QUERY_STRING"] == "q=1"
    expected_name = "_mod_wsgi_" + hashlib.md5(srv.path("paths.wsgi").encode()).hexdigest()
    assert srv.get("/app").json()["name"] == expected_name


def test_script_alias_directory_target(apache):
    srv = apache("WSGIScriptAlias /dir/ {root}/scripts/", apps={"scripts/env.wsgi": SHOW_PATHS})
    r = srv.get("/dir/env.wsgi/more/path")
    assert r.status == 200
    env = r.json()
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/dir/env.wsgi", "/more/path")
    assert srv.get("/dir/env.wsgi").json()["PATH_INFO"] == ""
    mark = srv.log_mark()
    assert srv.get("/dir/missing.wsgi").status == 404
    srv.wait_for_log(r"\[rwsgi:error\].*Target WSGI script not found or unable to stat: .*missing\.wsgi", since=mark)


def test_script_alias_match_substitutes_captures(apache):
    srv = apache(
        r"WSGIScriptAliasMatch ^/site/([^/]+) {root}/sites/$1.wsgi",
        apps={"sites/alpha.wsgi": SHOW_PATHS, "sites/beta.wsgi": SHOW_PATHS.replace("200 OK", "201 Created")},
    )
    a = srv.get("/site/alpha/x")
    assert a.status == 200 and a.json()["SCRIPT_NAME"] == "/site/alpha" and a.json()["PATH_INFO"] == "/x"
    assert srv.get("/site/beta").status == 201
    assert srv.get("/site/gamma").status == 404


def test_wsgi_script_handler_needs_exec_cgi(apache):
    srv = apache(
        """
        Alias /cgi {root}/cgi
        Alias /noexec {root}/noexec
        <Directory {root}/cgi>
            Options +ExecCGI
            AddHandler wsgi-script .wsgi
        </Directory>
        <Directory {root}/noexec>
            Options -ExecCGI
            AddHandler wsgi-script .wsgi
        </Directory>
        """,
        apps={"cgi/a.wsgi": SHOW_PATHS, "noexec/a.wsgi": SHOW_PATHS},
    )
    r = srv.get("/cgi/a.wsgi/extra")
    assert r.status == 200
    assert r.json()["SCRIPT_NAME"] == "/cgi/a.wsgi" and r.json()["PATH_INFO"] == "/extra"
    mark = srv.log_mark()
    r = srv.get("/noexec/a.wsgi")
    assert r.status == 403
    assert b"json" not in r.body
    srv.wait_for_log(r"\[rwsgi:error\].*Options ExecCGI is off in this directory: .*noexec/a\.wsgi", since=mark)


def test_missing_script_is_404(apache):
    srv = apache("WSGIScriptAlias /gone {root}/does-not-exist.wsgi")
    mark = srv.log_mark()
    assert srv.get("/gone").status == 404
    srv.wait_for_log(r"Target WSGI script not found or unable to stat: .*does-not-exist\.wsgi", since=mark)


def test_import_errors_are_500_with_traceback_and_recover(apache):
    srv = apache(
        """
        WSGIScriptAlias /syntax {root}/syntax.wsgi
        WSGIScriptAlias /raises {root}/raises.wsgi
        """,
        apps={
            "syntax.wsgi": "def application(environ, start_response)\n    pass\n",
            "raises.wsgi": "raise RuntimeError('import-time failure 4711')\n",
        },
    )
    mark = srv.log_mark()
    assert srv.get("/syntax").status == 500
    srv.wait_for_log(r"Failed to exec Python script file '.*syntax\.wsgi'", since=mark)
    srv.wait_for_log(r"SyntaxError", since=mark)
    mark = srv.log_mark()
    assert srv.get("/raises").status == 500
    srv.wait_for_log(r"Traceback \(most recent call last\):", since=mark)
    srv.wait_for_log(r"RuntimeError: import-time failure 4711", since=mark)
    # Fixing the file makes the next request work (the failed module is not cached).
    time.sleep(0.01)
    srv.write_file("raises.wsgi", SHOW_PATHS)
    os.utime(srv.path("raises.wsgi"), (time.time() + 2, time.time() + 2))
    assert srv.get("/raises").status == 200


def test_callable_object_selection(apache):
    app = SHOW_PATHS + "\nalt = application\n"
    srv = apache(
        """
        WSGIScriptAlias /default {root}/app.wsgi
        WSGIScriptAlias /option {root}/app.wsgi callable-object=alt
        WSGIScriptAlias /missing {root}/app.wsgi callable-object=nothere
        <Location /directive>
            WSGICallableObject alt
        </Location>
        WSGIScriptAlias /directive {root}/app.wsgi
        """,
        apps={"app.wsgi": app},
    )
    assert srv.get("/default").json()["mod_wsgi.callable_object"] == "application"
    assert srv.get("/option").json()["mod_wsgi.callable_object"] == "alt"
    assert srv.get("/directive").json()["mod_wsgi.callable_object"] == "alt"
    mark = srv.log_mark()
    r = srv.get("/missing")
    # mod_wsgi answers 404; a script without its callable is a broken
    # deployment, so mod_rwsgi answers 500 (README).
    assert r.status == (404 if srv.module == "wsgi" else 500)
    srv.wait_for_log(r"Target WSGI script '.*app\.wsgi' does not contain WSGI application 'nothere'", since=mark)


VERSIONED = """
VERSION = {version!r}
def application(environ, start_response):
    start_response("200 OK", [])
    return [VERSION.encode()]
"""


def test_script_reloading(apache):
    srv = apache(
        """
        WSGIScriptAlias /on {root}/on.wsgi
        WSGIScriptAlias /off {root}/off.wsgi
        <Location /off>
            WSGIScriptReloading Off
        </Location>
        """,
        mpm="prefork",
        mpm_config="StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\nServerLimit 1\nMaxRequestWorkers 1",
        apps={"on.wsgi": VERSIONED.format(version="v1"), "off.wsgi": VERSIONED.format(version="v1")},
    )
    assert srv.get("/on").body == b"v1"
    assert srv.get("/off").body == b"v1"
    later = time.time() + 5
    for name in ("on.wsgi", "off.wsgi"):
        srv.write_file(name, VERSIONED.format(version="v2"))
        os.utime(srv.path(name), (later, later))
    assert srv.get("/on").body == b"v2"
    assert srv.get("/off").body == b"v1"
