"""Self-tests of the harness, run against Debian's mod_wsgi 4.9.4 (module="wsgi")."""

import os
import signal
import time

import pytest

from harness import ApacheServer, chunked

HELLO = """\
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello World!\\n"]
"""

ECHO = """\
def application(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [body]
"""


def test_hello_event(apache):
    srv = apache("WSGIScriptAlias /app {root}/hello.wsgi", apps={"hello.wsgi": HELLO}, module="wsgi")
    r = srv.request("GET", "/app")
    assert r.status == 200
    assert r.body == b"Hello World!\n"
    assert r.header("content-type") == "text/plain"
    assert srv.url("/app") == "http://127.0.0.1:%d/app" % srv.port
    # LoadModule + per-module LogLevel took effect
    srv.wait_for_log(r"\[wsgi:info\].*Initializing Python")


@pytest.mark.parametrize("mpm", ["worker", "prefork"])
def test_hello_other_mpms(apache, mpm):
    srv = apache("WSGIScriptAlias /app {root}/hello.wsgi", apps={"hello.wsgi": HELLO}, module="wsgi", mpm=mpm)
    status, headers, body = srv.get("/app")
    assert (status, body) == (200, b"Hello World!\n")
    assert "mpm_%s" % mpm in open(srv.conf_path).read()


def test_raw_chunked_request_and_response(apache):
    srv = apache(
        """
        WSGIScriptAlias /echo {root}/echo.wsgi
        WSGIChunkedRequest On
        """,
        apps={"echo.wsgi": ECHO},
        module="wsgi",
    )
    r = srv.request("POST", "/echo", headers={"Transfer-Encoding": "chunked"}, body=chunked("abc", "defg"), raw=True)
    assert r.status == 200
    assert r.body == b"abcdefg"
    assert r.chunked and r.complete


def test_expect_100_continue(apache):
    srv = apache("WSGIScriptAlias /echo {root}/echo.wsgi", apps={"echo.wsgi": ECHO}, module="wsgi")
    with srv.connect() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        head = c.read_head()
        assert head.startswith(b"HTTP/1.1 100 Continue")
        c.send(b"hello")
        r = c.read_until_close()
    assert r.endswith(b"5\r\nhello\r\n0\r\n\r\n")


def test_wait_for_log_and_mark(apache, app_dir):
    path = app_dir.write(
        "log.wsgi",
        """
        def application(environ, start_response):
            environ["wsgi.errors"].write("marker-%s\\n" % environ["QUERY_STRING"])
            start_response("200 OK", [])
            return [b""]
        """,
    )
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    srv = apache("WSGIScriptAlias /log %s\n<Directory %s>\nRequire all granted\n</Directory>" % (path, app_dir), module="wsgi")
    mark = srv.log_mark()
    srv.get("/log?one")
    m = srv.wait_for_log(r"marker-(\w+)", since=mark)
    assert m.group(1) == "one"
    mark = srv.log_mark()
    srv.get("/log?two")
    assert srv.wait_for_log(r"marker-(\w+)", since=mark).group(1) == "two"


def test_graceful_restart(apache):
    srv = apache("WSGIScriptAlias /app {root}/hello.wsgi", apps={"hello.wsgi": HELLO}, module="wsgi")
    srv.graceful()
    assert srv.get("/app").status == 200


def test_config_test(apache):
    srv = apache("WSGIScriptAlias /app", module="wsgi", start=False)
    rc, out = srv.config_test()
    assert rc != 0
    assert "WSGIScriptAlias" in out
    srv2 = apache("WSGIScriptAlias /app {root}/x.wsgi", module="wsgi", start=False)
    assert srv2.config_test() == (0, "Syntax OK\n")


def test_startup_failure_reports_log(apache):
    srv = apache("ThisIsNotADirective", module="wsgi", start=False)
    with pytest.raises(RuntimeError, match="ThisIsNotADirective"):
        srv.start()
    assert not srv._our_pids()


def test_stop_cleans_up_everything():
    srv = ApacheServer(module="wsgi", config="WSGIScriptAlias /app {root}/hello.wsgi", apps={"hello.wsgi": HELLO})
    srv.start()
    try:
        assert srv.get("/app").status == 200
        assert srv.child_pids()
        t = time.monotonic()
        srv.stop()
        assert time.monotonic() - t < 8
        assert not srv._our_pids()
        assert not srv._can_connect()
    finally:
        srv.cleanup()
    assert not os.path.exists(srv.root)


def test_check_log_detects_crash(apache):
    srv = apache("WSGIScriptAlias /app {root}/hello.wsgi", apps={"hello.wsgi": HELLO}, module="wsgi")
    victim = srv.child_pids()[0]
    os.kill(victim, signal.SIGSEGV)
    srv.wait_for_log(r"exit signal Segmentation fault")
    with pytest.raises(AssertionError, match="Segmentation fault"):
        srv.check_log()
    srv.bad_log_patterns = []  # expected here; keep teardown quiet


def test_incomplete_body_detected(apache):
    app = """\
    def application(environ, start_response):
        start_response("200 OK", [("Content-Length", "100")])
        return [b"short"]
    """
    srv = apache("WSGIScriptAlias /app {root}/cl.wsgi", apps={"cl.wsgi": app}, module="wsgi")
    r = srv.get("/app")
    assert r.status == 200 and r.incomplete and r.body == b"short"
