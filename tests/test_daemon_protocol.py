"""The Apache child against a misbehaving daemon.

The group's real socket is replaced by one served by this test, which speaks
the wire format (src/protocol) wrongly on purpose. Whatever arrives, the child
must answer 502 (or cut a started response), log why, and stay up."""

import os
import socket
import struct
import threading

import pytest

from daemon_helpers import SECRET_LEN, socket_dir, socket_files

KIND = {"Request": 1, "Body": 2, "BodyError": 3, "Read": 4, "Head": 5, "Data": 6, "End": 7, "Abort": 8, "Fail": 9, "File": 10, "Goodbye": 11}


def frame(kind, payload=b""):
    return struct.pack("<IB", len(payload), KIND[kind] if isinstance(kind, str) else kind) + payload


def head(code=200, status=b"200 OK", headers=(), content_length=None):
    out = struct.pack("<H", code) + struct.pack("<I", len(status)) + status
    out += b"\x00" if content_length is None else b"\x01" + struct.pack("<Q", content_length)
    out += struct.pack("<I", len(headers))
    for k, v in headers:
        out += struct.pack("<I", len(k)) + k + struct.pack("<I", len(v)) + v
    return out


def read_frame(conn):
    header = b""
    while len(header) < 5:
        chunk = conn.recv(5 - len(header))
        if not chunk:
            return None
        header += chunk
    length, kind = struct.unpack("<IB", header)
    payload = b""
    while len(payload) < length:
        chunk = conn.recv(length - len(payload))
        if not chunk:
            return None
        payload += chunk
    return kind, payload


# What the fake daemon answers, by the request's path.
REPLIES = {
    "/bad/unknown-kind": frame(99, b"x"),
    "/bad/bad-header-name": frame("Head", head(headers=[(b"X Bad", b"v")])),
    "/bad/crlf-in-value": frame("Head", head(headers=[(b"X-Ok", b"a\r\nX-Injected: 1")])),
    "/bad/hop-by-hop": frame("Head", head(headers=[(b"Transfer-Encoding", b"chunked")])),
    "/bad/status-mismatch": frame("Head", head(code=200, status=b"404 Not Found")),
    "/bad/status-garbage": frame("Head", head(code=200, status=b"OK then")),
    "/bad/truncated-head": frame("Head", head())[:-3],
    "/bad/oversized": struct.pack("<IB", 64 << 20, KIND["Head"]),
    "/bad/data-before-head": frame("Data", b"\x00body"),
    "/bad/end-before-head": frame("End", b"\x00"),
    "/bad/close-immediately": b"",
    "/bad/second-head": frame("Head", head()) + frame("Head", head()),
    "/bad/fail-odd-status": frame("Fail", struct.pack("<H", 200)),
    "/bad/read-malformed": frame("Read", b"\x01\x02"),
    "/bad/file-without-descriptor": frame("Head", head()) + frame("File", struct.pack("<QQ", 0, 10)),
    "/bad/fail-short": frame("Fail", b"\x01"),
    "/bad/data-flag": frame("Head", head()) + frame("Data", b"\x02body"),
    "/bad/end-odd-size": frame("Head", head()) + frame("End", b"\x00\x01"),
    "/bad/abort-with-payload": frame("Head", head()) + frame("Abort", b"x"),
    "/ok": frame("Head", head(headers=[(b"Content-Type", b"text/plain")])) + frame("Data", b"\x00fine") + frame("End", b"\x00"),
    "/cut-after-data": frame("Head", head()) + frame("Data", b"\x01partial"),
}

EXPECTED_LOG = {
    "/bad/unknown-kind": r"malformed response: unknown frame kind 99",
    "/bad/bad-header-name": r"invalid response head: header name \"X Bad\"",
    "/bad/crlf-in-value": r"invalid response head: value of header \"X-Ok\" contains a control character",
    "/bad/hop-by-hop": r"invalid response head: hop-by-hop header \"Transfer-Encoding\"",
    "/bad/status-mismatch": r"invalid response head: status code 200 does not match status line",
    "/bad/status-garbage": r"invalid response head: status line \"OK then\"",
    "/bad/truncated-head": r"closed the connection before the response was complete",
    "/bad/oversized": r"malformed response: frame of 67108864 bytes exceeds the limit",
    "/bad/data-before-head": r"body data before the response head",
    "/bad/end-before-head": r"end of response before its head",
    "/bad/close-immediately": r"closed the connection before the response was complete",
    "/bad/second-head": r"a second response head",
    "/bad/fail-odd-status": r"the daemon reported an invalid failure status 200",
    "/bad/read-malformed": r"malformed body read request",
    "/bad/file-without-descriptor": r"malformed file frame \(no descriptor or bad region\)",
    "/bad/fail-short": r"malformed failure frame: Fail payload of 1 bytes, expected 2",
    "/bad/data-flag": r"malformed data frame: Data flag byte 2, expected 0 or 1",
    "/bad/end-odd-size": r"malformed end frame: End payload of 2 bytes, expected 1 or 5",
    "/bad/abort-with-payload": r"malformed abort frame: Abort payload of 1 bytes, expected 0",
    "/bad/goodbye-after-head": r"unexpected Goodbye frame",
}

OK_REPLY = REPLIES["/ok"]
REPLIES["/bad/goodbye-after-head"] = frame("Head", head()) + frame("Goodbye")

# Paths the fake daemon does not take the first `n` times: it closes the
# connection, either unread (the child sees ECONNRESET) or after a Goodbye.
NOT_TAKEN = {"/reset-once": ("unread", 1), "/goodbye-once": ("goodbye", 1), "/goodbye-always": ("goodbye", 1000)}


def uri_of(payload):
    # The request carries the CGI variables; find REQUEST_URI's value.
    marker = payload.find(b"REQUEST_URI")
    if marker < 0:
        return ""
    (vlen,) = struct.unpack("<I", payload[marker + 11 : marker + 15])
    return payload[marker + 15 : marker + 15 + vlen].decode()


class FakeDaemon:
    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)  # the Apache children run as www-data
        self.sock.listen(16)
        self.requests = []
        self.connections = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                # The child's connection secret comes first (a real daemon checks it).
                conn.recv(SECRET_LEN, socket.MSG_WAITALL)
                # Peek first, so that the request can be left unread.
                peeked = conn.recv(1 << 16, socket.MSG_PEEK)
                path = uri_of(peeked).split("?")[0][len("/app"):]
                how, times = NOT_TAKEN.get(path, (None, 0))
                if how and self.requests.count(path) < times:
                    self.requests.append(path)
                    if how == "goodbye":
                        read_frame(conn)
                        conn.sendall(frame("Goodbye"))
                    continue
                got = read_frame(conn)
                if got is None or got[0] != KIND["Request"]:
                    continue
                self.requests.append(path)
                conn.sendall(OK_REPLY if path in NOT_TAKEN else REPLIES.get(path, b""))

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def rigged(module_under_test):
    from harness import ApacheServer

    if module_under_test != "rwsgi":
        pytest.skip("the wire format is mod_rwsgi's own")
    srv = ApacheServer(
        module="rwsgi",
        mode="embedded",
        config="""
        WSGIDaemonProcess fake processes=1 threads=1 connect-timeout=2 socket-timeout=3
        WSGIScriptAlias /app {root}/app.wsgi process-group=fake
        """,
        apps={"app.wsgi": "def application(e, s):\n    s('200 OK', [])\n    return [b'real daemon']\n"},
    )
    srv.start()
    # Swap the real daemon's socket for ours before any request: the children
    # connect by path (and would keep a connection to the real daemon).
    sockets = socket_files(srv)
    assert len(sockets) == 1, sockets
    path = os.path.join(socket_dir(srv), sockets[0])
    os.unlink(path)
    fake = FakeDaemon(path)
    srv.fake = fake
    try:
        r = srv.get("/app/ok")
        assert (r.status, r.body) == (200, b"fine")
        yield srv
    finally:
        fake.close()
        srv.stop(check_log=False)
        srv.check_log()
        srv.cleanup()


@pytest.mark.parametrize("path", sorted(EXPECTED_LOG))
def test_malformed_daemon_replies_are_502(rigged, path):
    mark = rigged.log_mark()
    r = rigged.request("GET", "/app" + path, raw=True)
    assert r.status == 502, (path, r.status, r.raw[:200])
    assert b"X-Injected" not in r.raw and b"X Bad" not in r.raw
    rigged.wait_for_log(r"\[rwsgi:error\].*daemon process group 'fake': .*" + EXPECTED_LOG[path], since=mark)
    # The child is unharmed: a well-formed reply still works afterwards.
    r = rigged.request("GET", "/app/ok", raw=True)
    assert (r.status, r.body, r.complete) == (200, b"fine", True)


def test_daemon_vanishing_mid_body_cuts_the_response(rigged):
    mark = rigged.log_mark()
    r = rigged.request("GET", "/app/cut-after-data", raw=True)
    assert r.status == 200 and r.body.startswith(b"partial") and not r.complete
    rigged.wait_for_log(r"closed the connection before the response was complete", since=mark)


@pytest.mark.parametrize("path", ["/reset-once", "/goodbye-once"])
def test_request_not_taken_is_sent_again(rigged, path):
    # The daemon closed the connection without reading the request (unread
    # bytes: ECONNRESET; or a Goodbye frame): the child sends it once more.
    r = rigged.request("GET", "/app" + path, raw=True)
    assert (r.status, r.body, r.complete) == (200, b"fine", True)
    assert rigged.fake.requests.count(path) == 2


def test_request_never_taken_is_503(rigged):
    mark = rigged.log_mark()
    before = rigged.fake.connections
    r = rigged.request("GET", "/app/goodbye-always", raw=True)
    assert r.status == 503
    rigged.wait_for_log(r"\[rwsgi:error\].*daemon process group 'fake' closed 8 connections in a row without taking the request", since=mark)
    # Bounded: eight new connections, plus at most a kept one.
    assert 8 <= rigged.fake.connections - before <= 9
