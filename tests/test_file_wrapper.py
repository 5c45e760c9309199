"""environ['wsgi.file_wrapper'] (PEP 3333 "Optional Platform-Specific File Handling").

A 200 KiB file of random bytes lives in the server root; the app serves it in
several ways (/fw?<case>).  The same app is mounted under two locations, one
with EnableSendfile On (and WSGIEnableSendfile On, which mod_wsgi requires
for sendfile too) and one with Off, so both Apache send paths are used.
"""

import hashlib
import os
import re
import time

import pytest

from harness import ApacheServer

pytestmark = pytest.mark.both_modes  # rerun in daemon mode (see conftest.py)

SIZE = 200 * 1024

FW_APP = r'''
import io
import os

HERE = os.path.dirname(__file__)
DATA = os.path.join(HERE, "data.bin")
SMALL_OFFSET = 204800 - 10


class ObservedFile(io.FileIO):
    """A real file whose close() leaves a marker file (named by the query)."""
    marker = None

    def close(self):
        if self.marker and not self.closed:
            with open(self.marker, "w") as m:
                m.write("closed")
        super().close()


class RaisingCloseFile(io.FileIO):
    def close(self):
        super().close()
        raise RuntimeError("close failed on purpose")


class RecordingBytesIO(io.BytesIO):
    """Records the size passed to each read(); logs them when closed."""

    def __init__(self, data, errors):
        super().__init__(data)
        self.sizes = []
        self.errors = errors

    def read(self, size=-1):
        self.sizes.append(size)
        return super().read(size)

    def close(self):
        self.errors.write("BYTESIO-CLOSED reads=%r\n" % (self.sizes,))
        self.errors.flush()
        super().close()


def application(environ, start_response):
    case, _, arg = environ.get("QUERY_STRING", "").partition("=")
    fw = environ["wsgi.file_wrapper"]
    headers = [("Content-Type", "application/octet-stream")]
    if case == "whole":
        f = open(DATA, "rb")
    elif case == "offset":
        f = open(DATA, "rb")
        f.seek(1000)
    elif case == "offset_cl":
        f = open(DATA, "rb")
        f.seek(1000)
        headers.append(("Content-Length", arg))
    elif case == "observed":
        f = ObservedFile(DATA, "rb")
        f.marker = os.path.join(HERE, "markers", arg)
    elif case == "raising_close":
        f = RaisingCloseFile(DATA, "rb")
        f.seek(SMALL_OFFSET)
    elif case == "bytesio":
        data = bytes(range(256)) * 40  # 10240 bytes
        start_response("200 OK", headers)
        return fw(RecordingBytesIO(data, environ["wsgi.errors"]), 1000)
    elif case == "pipe":
        r, w = os.pipe()
        os.write(w, b"through a pipe " * 100)
        os.close(w)
        f = os.fdopen(r, "rb")
    elif case == "module":
        import mod_wsgi
        start_response("200 OK", headers)
        return mod_wsgi.FileWrapper(open(DATA, "rb"), 4096)
    else:
        raise KeyError(case)
    start_response("200 OK", headers)
    return fw(f)
'''

CONFIG = """
WSGIScriptAlias /fw {root}/fw.wsgi
WSGIScriptAlias /sf-on {root}/fw.wsgi
WSGIScriptAlias /sf-off {root}/fw.wsgi
<Location /sf-on>
    EnableSendfile On
    WSGIEnableSendfile On
</Location>
<Location /sf-off>
    EnableSendfile Off
</Location>
"""


@pytest.fixture(scope="module")
def data():
    return os.urandom(SIZE)


@pytest.fixture(scope="module")
def srv(module_under_test, default_mpm, data):
    """One server for the whole file (the `apache` fixture is per test)."""
    s = ApacheServer(module=module_under_test, mpm=default_mpm, config=CONFIG, apps={"fw.wsgi": FW_APP})
    s.write_file("data.bin", data)
    os.makedirs(s.path("markers"))
    os.chmod(s.path("markers"), 0o777)  # the children (www-data) write the close() markers
    with s:  # starts; at teardown stops, checks the error log, cleans up
        yield s


def assert_body(r, expected):
    assert r.status == 200
    assert not r.incomplete
    assert len(r.body) == len(expected)
    assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(expected).hexdigest()
    cl = r.header("Content-Length")
    if cl is not None:
        assert int(cl) == len(expected)


def test_whole_file(srv, data):
    assert_body(srv.get("/fw?whole"), data)


def test_seeked_file_sends_from_offset(srv, data):
    assert_body(srv.get("/fw?offset"), data[1000:])


def test_content_length_smaller_than_remaining(srv, data):
    r = srv.get("/fw?offset_cl=5000")
    assert r.header("Content-Length") == "5000"
    assert_body(r, data[1000:6000])
    # Exactly that many bytes: the connection stays usable for a next request.
    with srv.connect() as c:
        c.send(b"GET /fw?offset_cl=7 HTTP/1.1\r\nHost: x\r\n\r\nGET /fw?offset_cl=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = c.read_until_close(timeout=10)
    heads = re.findall(rb"HTTP/1.1 200 OK\r\n", raw)
    assert len(heads) == 2, raw[:500]
    first, second = raw.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert first.split(b"\r\n\r\n", 1)[1] == data[1000:1007]
    assert second.split(b"\r\n\r\n", 1)[1] == data[1000:1003]


@pytest.mark.parametrize("prefix", ["/sf-on", "/sf-off"])
def test_enable_sendfile(srv, data, prefix):
    assert_body(srv.get(prefix + "?whole"), data)
    assert_body(srv.get(prefix + "?offset"), data[1000:])
    r = srv.get(prefix + "?offset_cl=100000")
    assert r.header("Content-Length") == "100000"
    assert_body(r, data[1000:101000])


def test_head(srv, data):
    r = srv.request("HEAD", "/fw?whole")
    assert r.status == 200
    assert r.body == b""
    assert r.header("Content-Length") == str(SIZE)
    r = srv.request("HEAD", "/fw?offset", raw=True)
    assert r.status == 200
    assert r.body == b""  # nothing at all after the head
    assert dict((k.lower(), v) for k, v in r.headers)["content-length"] == str(SIZE - 1000)


def test_bytesio_iterated_with_blksize(srv):
    mark = srv.log_mark()
    r = srv.get("/fw?bytesio")
    assert r.status == 200
    assert r.body == bytes(range(256)) * 40
    # Falls back to iteration: read(blksize) until b"", then close() (exactly once).
    m = srv.wait_for_log(r"BYTESIO-CLOSED reads=\[([0-9, ]*)\]", since=mark)
    sizes = [int(x) for x in m.group(1).split(",")]
    assert set(sizes) == {1000}
    assert len(sizes) == 12  # 10 full blocks, 240 bytes, the empty read that ends it
    assert len(srv.log_lines(r"BYTESIO-CLOSED", since=mark)) == 1


def test_pipe_falls_back_to_iteration(srv):
    r = srv.get("/fw?pipe")
    assert r.status == 200
    assert r.body == b"through a pipe " * 100


def test_close_called_for_real_file(srv, data):
    marker = srv.path("markers", "real")
    r = srv.get("/fw?observed=real")
    assert_body(r, data)
    deadline = time.monotonic() + 5
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.path.exists(marker), "the wrapped file's close() was not called"
    with open(marker) as f:
        assert f.read() == "closed"


def test_close_called_on_head(srv):
    marker = srv.path("markers", "head")
    r = srv.request("HEAD", "/fw?observed=head")
    assert r.status == 200 and r.body == b""
    deadline = time.monotonic() + 5
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.path.exists(marker), "close() not called for a HEAD request"


def test_mod_wsgi_filewrapper_importable(srv, data):
    r = srv.get("/fw?module")
    assert_body(r, data)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_close_raising_is_logged_and_response_still_sent(srv, data, method):
    # The response (10 bytes from a file) is complete before close() is called.
    # mod_wsgi 4.9.4 delivers the complete 200 response (body for GET, head for
    # HEAD) and silently swallows the exception; rwsgi logs it with its traceback
    # (more useful, and harmless to the client), but the response that was
    # already produced must still reach the client in both cases.
    mark = srv.log_mark()
    r = srv.request(method, "/fw?raising_close", raw=True)
    srv.wait_for_log(r"RuntimeError: close failed on purpose", since=mark)
    assert r.status == 200
    assert dict((k.lower(), v) for k, v in r.headers).get("content-length") == "10"
    assert r.body == (data[-10:] if method == "GET" else b"")
    assert r.complete
