"""start_response, the write() callable and the response body (PEP 3333)."""

import os

import pytest

from harness import ApacheServer

pytestmark = pytest.mark.both_modes  # rerun in daemon mode (see conftest.py)

CASES = r'''
import os, sys, time

def _log_close(environ):
    environ["wsgi.errors"].write("close called for %s\n" % environ["PATH_INFO"])

class Closing:
    def __init__(self, environ, items, fail_at=None):
        self.environ, self.items, self.fail_at = environ, items, fail_at
    def __iter__(self):
        for i, item in enumerate(self.items):
            if i == self.fail_at:
                raise RuntimeError("failure while iterating")
            yield item
    def close(self):
        _log_close(self.environ)

def application(environ, start_response):
    case = environ["PATH_INFO"].strip("/")
    headers = [("Content-Type", "text/plain"), ("X-Leak", "must-not-appear")]
    if case == "ok":
        start_response("200 OK", headers)
        return Closing(environ, [b"hello ", b"world"])
    if case.startswith("status-"):
        status = {"status-noreason": "200", "status-letters": "abc OK", "status-short": "20 OK",
                  "status-crlf": "200 OK\r\nX-Injected: 1", "status-bytes": b"200 OK"}[case]
        start_response(status, headers)
        return [b"body-must-not-appear"]
    if case.startswith("header-"):
        bad = {"header-space": ("X Bad", "v"), "header-colon": ("X:Bad", "v"), "header-newline": ("X-Bad", "a\nX-Injected: 1"),
               "header-nonstr": ("X-Bad", 42), "header-hop": ("Connection", "close"), "header-te": ("Transfer-Encoding", "chunked"),
               "header-notuple": "X-Bad: v"}[case]
        start_response("200 OK", headers + [bad])
        return [b"body-must-not-appear"]
    if case == "headers-not-list":
        start_response("200 OK", tuple(headers))
        return [b"body-must-not-appear"]
    if case == "str-first":
        start_response("200 OK", headers)
        return Closing(environ, ["text"])
    if case == "str-later":
        start_response("200 OK", headers)
        return Closing(environ, [b"first-part;", "text"])
    if case == "none":
        start_response("200 OK", headers)
        return None
    if case == "no-start-response":
        return [b"body-must-not-appear"]
    if case == "raise-before":
        raise ValueError("raised before start_response")
    if case == "raise-after-start":
        start_response("200 OK", headers)
        raise ValueError("raised after start_response")
    if case == "raise-mid-body":
        start_response("200 OK", headers)
        return Closing(environ, [b"partial-" * 1000, b"more"], fail_at=1)
    if case == "cl-bad":
        start_response("200 OK", headers + [("Content-Length", "abc")])
        return [b"x"]
    if case == "cl-short":
        start_response("200 OK", [("Content-Length", "5")])
        return Closing(environ, [b"0123456789", b"abcdef"])
    if case == "cl-long":
        start_response("200 OK", [("Content-Length", "100")])
        return Closing(environ, [b"only-twenty-bytes!!!"])
    if case == "twice":
        start_response("200 OK", headers)
        start_response("201 Created", headers)
        return [b"body-must-not-appear"]
    if case == "exc-info-replaces":
        start_response("200 OK", headers)
        try:
            raise KeyError("handled")
        except KeyError:
            start_response("500 Handled Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"error page"]
    if case == "exc-info-after-sent":
        write = start_response("200 OK", headers)
        write(b"already-sent;")
        try:
            raise KeyError("too late")
        except KeyError:
            start_response("500 Oops", [], sys.exc_info())
        return [b"never"]
    if case == "exc-info-not-tuple":
        start_response("200 OK", headers, "not a tuple")
        return [b"body-must-not-appear"]
    if case == "write":
        write = start_response("200 OK", headers)
        write(b"from-write;")
        write(b"")
        return Closing(environ, [b"from-iterable"])
    if case == "write-str":
        write = start_response("200 OK", headers)
        write("text")
        return [b"never"]
    if case == "empty-items":
        start_response("200 OK", headers)
        return [b"", b"", b"x", b""]
    if case == "empty-body":
        start_response("200 OK", [("X-Empty", "1")])
        return Closing(environ, [])
    if case == "repeated-headers":
        start_response("200 OK", [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Latin", "caf\xe9")])
        return [b"ok"]
    if case in ("204", "304"):
        start_response({"204": "204 No Content", "304": "304 Not Modified"}[case], [])
        return [b"body-must-not-appear"]
    if case == "head":
        environ["wsgi.errors"].write("app ran for %s\n" % environ["REQUEST_METHOD"])
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "9")])
        return [b"head-body"]
    if case == "close-raises":
        class C:
            def __iter__(self): return iter([])
            def close(self): raise RuntimeError("close failed")
        start_response("200 OK", [])
        return C()
    if case == "stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def gen():
            yield b"first-chunk\n"
            flag = environ["QUERY_STRING"]
            deadline = time.time() + 10
            while not os.path.exists(flag) and time.time() < deadline:
                time.sleep(0.01)
            yield b"second-chunk\n"
        return gen()
    if case == "slow-stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing(environ, (b"x" * 65536 for _ in range(2000)))
    start_response("404 Not Found", [])
    return [b"unknown case"]
'''


@pytest.fixture(scope="module")
def srv(module_under_test):
    """One server for the whole module: every case is a separate URL."""
    with ApacheServer(module=module_under_test, config="WSGIScriptAlias /r {root}/cases.wsgi", apps={"cases.wsgi": CASES}) as server:
        yield server


def test_plain_response_and_close_called_once(srv):
    mark = srv.log_mark()
    r = srv.get("/r/ok")
    assert (r.status, r.body) == (200, b"hello world")
    assert r.header("X-Leak") == "must-not-appear"
    srv.wait_for_log(r"close called for /ok", since=mark)
    assert len(srv.log_lines(r"close called for /ok", since=mark)) == 1


@pytest.mark.parametrize(
    "case, reason",
    [
        ("status-noreason", r'status line "200" is not a 3-digit code'),
        ("status-letters", r'status line "abc OK"'),
        ("status-short", r'status line "20 OK"'),
        ("status-crlf", r"contains the character '\\+r'"),
        ("status-bytes", r"expected str for status line, got bytes"),
        ("header-space", r'header name "X Bad" is not a valid HTTP token'),
        ("header-colon", r'header name "X:Bad" is not a valid HTTP token'),
        ("header-newline", r'value of header "X-Bad" contains a control character'),
        ("header-nonstr", r"value of header \"X-Bad\" must be str, got int"),
        ("header-hop", r'hop-by-hop header "Connection" is not allowed'),
        ("header-te", r'hop-by-hop header "Transfer-Encoding" is not allowed'),
        ("header-notuple", r"each response header must be a \(name, value\) tuple, got str"),
        ("headers-not-list", r"response headers must be a list, got tuple"),
        ("str-first", r"sequence of byte string values expected, value of type str found"),
        ("none", r"TypeError: 'NoneType' object is not iterable"),
        ("no-start-response", r"response body produced before start_response\(\) was called"),
        ("raise-before", r"ValueError: raised before start_response"),
        ("raise-after-start", r"ValueError: raised after start_response"),
        ("cl-bad", r'Content-Length "abc" is not a non-negative integer'),
        ("twice", r"start_response\(\) called again without exc_info"),
        ("exc-info-not-tuple", r"exc_info must be a tuple"),
        ("write-str", r"write\(\) argument must be bytes, not str"),
        ("close-raises", r"RuntimeError: close failed"),
    ],
)
def test_invalid_responses_are_500_with_reason_logged(srv, case, reason):
    mark = srv.log_mark()
    r = srv.get("/r/" + case)
    assert r.status == 500, r
    assert b"must-not-appear" not in r.body
    assert r.header("X-Leak") is None and r.header("X-Injected") is None and r.header("X-Bad") is None
    srv.wait_for_log(r"\[rwsgi:error\].*Exception occurred processing WSGI script", since=mark)
    srv.wait_for_log(reason, since=mark)
    # The next request is served normally.
    assert srv.get("/r/ok").status == 200


def test_errors_after_output_cut_the_response(srv):
    mark = srv.log_mark()
    r = srv.request("GET", "/r/raise-mid-body", raw=True)
    assert r.status == 200
    assert r.body.startswith(b"partial-")
    assert not r.complete, "a failed response must not look complete (no final chunk)"
    srv.wait_for_log(r"RuntimeError: failure while iterating", since=mark)
    srv.wait_for_log(r"close called for /raise-mid-body", since=mark)

    mark = srv.log_mark()
    r = srv.request("GET", "/r/str-later", raw=True)
    assert r.body == b"first-part;" and not r.complete
    srv.wait_for_log(r"sequence of byte string values expected, value of type str found", since=mark)
    srv.wait_for_log(r"close called for /str-later", since=mark)

    mark = srv.log_mark()
    r = srv.request("GET", "/r/exc-info-after-sent", raw=True)
    assert r.body == b"already-sent;" and not r.complete
    srv.wait_for_log(r"KeyError: 'too late'", since=mark)


def test_content_length_is_enforced(srv):
    mark = srv.log_mark()
    r = srv.request("GET", "/r/cl-short", raw=True)
    assert r.status == 200 and r.body == b"01234"
    srv.wait_for_log(r"close called for /cl-short", since=mark)

    mark = srv.log_mark()
    r = srv.request("GET", "/r/cl-long", raw=True)
    assert r.header("Content-Length") == "100" if hasattr(r, "header") else True
    assert r.body == b"only-twenty-bytes!!!" and not r.complete
    srv.wait_for_log(r"response shorter than its Content-Length \(20 of 100 bytes sent\)", since=mark)


def test_exc_info_replaces_headers_before_output(srv):
    r = srv.get("/r/exc-info-replaces")
    assert (r.status, r.reason, r.body) == (500, "Handled Error", b"error page")
    assert r.header("X-Leak") is None


def test_write_callable_output_precedes_iterable(srv):
    r = srv.get("/r/write")
    assert (r.status, r.body) == (200, b"from-write;from-iterable")


def test_empty_items_and_empty_body(srv):
    r = srv.get("/r/empty-items")
    assert (r.status, r.body) == (200, b"x")
    mark = srv.log_mark()
    r = srv.get("/r/empty-body")
    assert (r.status, r.body, r.header("X-Empty")) == (200, b"", "1")
    srv.wait_for_log(r"close called for /empty-body", since=mark)


def test_repeated_and_latin1_headers_are_preserved(srv):
    r = srv.request("GET", "/r/repeated-headers", raw=True)
    cookies = [v for k, v in r.headers if k.lower() == "set-cookie"]
    assert cookies == ["a=1", "b=2"]
    raw_head = r.raw.split(b"\r\n\r\n")[0]
    assert b"X-Latin: caf\xe9" in raw_head


def test_bodiless_statuses_and_head(srv):
    for case, status in (("204", 204), ("304", 304)):
        r = srv.request("GET", "/r/" + case, raw=True)
        assert r.status == status and r.body == b"" and b"must-not-appear" not in r.raw
    mark = srv.log_mark()
    r = srv.request("HEAD", "/r/head", raw=True)
    assert r.status == 200 and r.body == b"" and b"head-body" not in r.raw
    assert dict((k.lower(), v) for k, v in r.headers)["content-length"] == "9"
    srv.wait_for_log(r"app ran for HEAD", since=mark)


def test_streaming_reaches_client_before_app_finishes(srv):
    flag = srv.path("stream-flag")
    with srv.connect() as c:
        c.send(("GET /r/stream?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % flag).encode())
        got = c.read_until(b"first-chunk\n", timeout=5)
        assert b"second-chunk" not in got
        open(flag, "w").close()
        rest = c.read_until_close(timeout=10)
    assert b"second-chunk\n" in got + rest


def test_client_disconnect_closes_iterable(srv):
    mark = srv.log_mark()
    with srv.connect() as c:
        c.send(b"GET /r/slow-stream HTTP/1.1\r\nHost: x\r\n\r\n")
        c.read_until(b"xxxx", timeout=5)
    # The application's iterable is closed once the server notices the client left.
    srv.wait_for_log(r"close called for /slow-stream", since=mark, timeout=20)
    assert srv.get("/r/ok").status == 200
