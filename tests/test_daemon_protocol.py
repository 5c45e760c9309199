"""The Apache child against a misbehaving daemon.

The group's real socket is replaced by one served by this test, which speaks
the wire format (crates/protocol) wrongly on purpose: malformed frames, frames
of other requests, more body than announced, lying or surplus passed file
descriptors. Whatever arrives, the child must answer 502 (or cut a started
response), log why, close the connection, and stay up; the next request gets
its own response."""

import http.client
import os
import re
import socket
import ssl
import struct
import subprocess
import threading

import pytest

from daemon_helpers import SECRET_LEN, socket_dir, socket_files

KIND = {"Request": 1, "Body": 2, "BodyError": 3, "Read": 4, "Head": 5, "Data": 6, "End": 7, "Abort": 8, "Fail": 9, "File": 10, "Goodbye": 11}


# The request id of the request the fake daemon is answering (frames echo it).
CURRENT = {"request": 0}


def frame(kind, payload=b"", request=None):
    rid = CURRENT["request"] if request is None else request
    return struct.pack("<IBQ", len(payload), KIND[kind] if isinstance(kind, str) else kind, rid) + payload


def head(code=200, status=b"200 OK", headers=(), content_length=None):
    out = struct.pack("<H", code) + struct.pack("<I", len(status)) + status
    out += b"\x00" if content_length is None else b"\x01" + struct.pack("<Q", content_length)
    out += struct.pack("<I", len(headers))
    for k, v in headers:
        out += struct.pack("<I", len(k)) + k + struct.pack("<I", len(v)) + v
    return out


def read_frame(conn):
    header = b""
    while len(header) < 13:
        chunk = conn.recv(13 - len(header))
        if not chunk:
            return None
        header += chunk
    length, kind, rid = struct.unpack("<IBQ", header)
    payload = b""
    while len(payload) < length:
        chunk = conn.recv(length - len(payload))
        if not chunk:
            return None
        payload += chunk
    return kind, payload, rid


# What the fake daemon answers, by the request's path.
REPLIES = {
    "/bad/unknown-kind": lambda: frame(99, b"x"),
    "/bad/bad-header-name": lambda: frame("Head", head(headers=[(b"X Bad", b"v")])),
    "/bad/crlf-in-value": lambda: frame("Head", head(headers=[(b"X-Ok", b"a\r\nX-Injected: 1")])),
    "/bad/hop-by-hop": lambda: frame("Head", head(headers=[(b"Transfer-Encoding", b"chunked")])),
    "/bad/status-mismatch": lambda: frame("Head", head(code=200, status=b"404 Not Found")),
    "/bad/status-garbage": lambda: frame("Head", head(code=200, status=b"OK then")),
    "/bad/truncated-head": lambda: frame("Head", head())[:-3],
    "/bad/oversized": lambda: struct.pack("<IBQ", 64 << 20, KIND["Head"], CURRENT["request"]),
    "/bad/data-before-head": lambda: frame("Data", b"\x00body"),
    "/bad/end-before-head": lambda: frame("End", b"\x00"),
    "/bad/close-immediately": lambda: b"",
    "/bad/second-head": lambda: frame("Head", head()) + frame("Head", head()),
    "/bad/fail-odd-status": lambda: frame("Fail", struct.pack("<H", 200)),
    "/bad/read-malformed": lambda: frame("Read", b"\x01\x02"),
    "/bad/file-without-descriptor": lambda: frame("Head", head()) + frame("File", struct.pack("<QQ", 0, 10)),
    "/bad/fail-short": lambda: frame("Fail", b"\x01"),
    "/bad/data-flag": lambda: frame("Head", head()) + frame("Data", b"\x02body"),
    "/bad/end-odd-size": lambda: frame("Head", head()) + frame("End", b"\x00\x01"),
    "/bad/abort-with-payload": lambda: frame("Head", head()) + frame("Abort", b"x"),
    "/ok": lambda: frame("Head", head(headers=[(b"Content-Type", b"text/plain")])) + frame("Data", b"\x00fine") + frame("End", b"\x00"),
    "/cut-after-data": lambda: frame("Head", head()) + frame("Data", b"\x01partial"),
    # Content-Length 5, then a body that carries a whole second HTTP response:
    # relayed, it would answer the client's next request on its connection.
    "/bad/overlong-body": lambda: frame("Head", head(headers=[(b"Content-Length", b"5")], content_length=5))
    + frame("Data", b"\x00hello" + INJECTED)
    + frame("End", b"\x00"),
    "/bad/wrong-request-id": lambda: frame("Head", head(), request=CURRENT["request"] + 1000),
    # A complete response left over from an earlier request, then the real one.
    "/bad/stale-response": lambda: frame("Head", head(), request=CURRENT["request"] - 1)
    + frame("Data", b"\x00stale", request=CURRENT["request"] - 1)
    + frame("End", b"\x00", request=CURRENT["request"] - 1)
    + OK_REPLY(),
    "/bad/content-length-header-differs": lambda: frame("Head", head(headers=[(b"Content-Length", b"50")], content_length=5)),
}

INJECTED = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nContent-Type: text/plain\r\n\r\ninjected"


def small_file(path, content=b"0123456789"):
    with open(path, "wb") as f:
        f.write(content)
    return open(path, "rb")


def send_file_beyond_size(conn):
    # The File frame announces 1 MiB of a 10-byte file: reading it through a
    # mapping would fault (SIGBUS) past the end of the file.
    with small_file(SCRATCH["dir"] + "/ten-bytes") as f:
        conn.sendall(frame("Head", head()))
        socket.send_fds(conn, [frame("File", struct.pack("<QQ", 0, 1 << 20))], [f.fileno()])
        conn.sendall(frame("End", b"\x00"))


def send_file_not_regular(conn):
    r, w = os.pipe()
    try:
        conn.sendall(frame("Head", head()))
        socket.send_fds(conn, [frame("File", struct.pack("<QQ", 0, 10))], [r])
        conn.sendall(frame("End", b"\x00"))
    finally:
        os.close(r)
        os.close(w)


def send_many_descriptors(conn):
    # 20,000 descriptors, one with each byte of a body: the child must not
    # keep them (it would run out of descriptors).
    with small_file(SCRATCH["dir"] + "/ten-bytes") as f:
        # From the first byte on, so that the child notices before any body.
        for byte in frame("Head", head()):
            socket.send_fds(conn, [bytes([byte])], [f.fileno()])
        for _ in range(20000):
            socket.send_fds(conn, [frame("Data", b"\x00x")], [f.fileno()])
        conn.sendall(frame("End", b"\x00"))


def send_descriptors_in_one_message(conn):
    with small_file(SCRATCH["dir"] + "/ten-bytes") as f:
        conn.sendall(frame("Head", head()))
        socket.send_fds(conn, [frame("File", struct.pack("<QQ", 0, 10))], [f.fileno()] * 3)
        conn.sendall(frame("End", b"\x00"))


SCRATCH = {"dir": "/tmp"}
SENDERS = {
    "/bad/file-beyond-size": send_file_beyond_size,
    "/bad/file-not-regular": send_file_not_regular,
    "/bad/many-descriptors": send_many_descriptors,
    "/bad/descriptors-in-one-message": send_descriptors_in_one_message,
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
    "/bad/overlong-body": r"body bytes or more, beyond the announced Content-Length of 5",
    "/bad/wrong-request-id": r"a Head frame of request \d+ in the response to request \d+",
    "/bad/stale-response": r"a Head frame of request \d+ in the response to request \d+",
    "/bad/content-length-header-differs": r"invalid response head: Content-Length header \"50\" differs from the announced length",
    "/bad/file-beyond-size": r"file frame region 0\+1048576 is beyond the passed file's 10 bytes",
    "/bad/file-not-regular": r"the descriptor passed with a file frame is not a regular file",
    "/bad/many-descriptors": r"the daemon passed file descriptors that no file frame accounts for",
    "/bad/descriptors-in-one-message": r"the daemon passed file descriptors that no file frame accounts for",
}

OK_REPLY = REPLIES["/ok"]
REPLIES["/bad/goodbye-after-head"] = lambda: frame("Head", head()) + frame("Goodbye", request=0)

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
                for prefix in ("/sendfile", "/nosendfile"):
                    if path.startswith(prefix + "/"):
                        path = path[len(prefix):]
                how, times = NOT_TAKEN.get(path, (None, 0))
                if how and self.requests.count(path) < times:
                    self.requests.append(path)
                    if how == "goodbye":
                        read_frame(conn)
                        conn.sendall(frame("Goodbye", request=0))
                    continue
                got = read_frame(conn)
                if got is None or got[0] != KIND["Request"]:
                    continue
                CURRENT["request"] = got[2]
                self.requests.append(path)
                try:
                    if path in SENDERS:
                        SENDERS[path](conn)
                    else:
                        conn.sendall(OK_REPLY() if path in NOT_TAKEN else REPLIES.get(path, lambda: b"")())
                except OSError:
                    pass  # the child closed the connection on a violation

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def rigged(module_under_test):
    from harness import ApacheServer

    from harness import free_port

    if module_under_test != "rwsgi":
        pytest.skip("the wire format is mod_rwsgi's own")
    tls_port = free_port()
    routes = """
        WSGIScriptAlias /app {root}/app.wsgi process-group=fake
        <Location /app/sendfile>
            EnableSendfile On
        </Location>
        <Location /app/nosendfile>
            EnableSendfile Off
            EnableMMAP On
        </Location>
    """
    srv = ApacheServer(
        module="rwsgi",
        mode="embedded",
        config="""
        WSGIDaemonProcess fake processes=1 threads=1 connect-timeout=2 socket-timeout=3
        %s
        Listen 127.0.0.1:%d https
        <VirtualHost 127.0.0.1:%d>
            SSLEngine on
            SSLCertificateFile {root}/tls.crt
            SSLCertificateKeyFile {root}/tls.key
            %s
        </VirtualHost>
        """
        % (routes, tls_port, tls_port, routes),
        apps={"app.wsgi": "def application(e, s):\n    s('200 OK', [])\n    return [b'real daemon']\n"},
        extra_modules=[("socache_shmcb_module", "mod_socache_shmcb.so"), ("ssl_module", "mod_ssl.so")],
    )
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-keyout", srv.path("tls.key"), "-out", srv.path("tls.crt")],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    srv.tls_port = tls_port
    SCRATCH["dir"] = srv.root
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


def test_body_beyond_the_announced_length_never_reaches_the_next_request(rigged):
    # The daemon says Content-Length 5 and sends a second, complete HTTP
    # response after the five bytes. The client's next request on the same
    # keep-alive connection must get its own response, not the injected one.
    mark = rigged.log_mark()
    conn = http.client.HTTPConnection("127.0.0.1", rigged.port, timeout=10)
    try:
        conn.request("GET", "/app/bad/overlong-body")
        first = conn.getresponse()
        first_body = first.read()
        assert first.status == 502, (first.status, first_body)
        conn.request("GET", "/app/ok")
        second = conn.getresponse()
        assert (second.status, second.read()) == (200, b"fine")
    finally:
        conn.close()
    assert b"injected" not in first_body
    rigged.wait_for_log(r"beyond the announced Content-Length of 5", since=mark)


def test_a_stale_response_is_never_taken_for_the_current_one(rigged):
    # Frames of an earlier request (say from a process the application forked)
    # ahead of the real response: a 502 and the connection closed.
    r = rigged.request("GET", "/app/bad/stale-response", raw=True)
    assert r.status == 502 and b"stale" not in r.raw
    r = rigged.request("GET", "/app/ok", raw=True)
    assert (r.status, r.body) == (200, b"fine")


def tls_get(port, path):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path).encode())
            data = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except (ssl.SSLError, ConnectionResetError):
                    break
                if not chunk:
                    break
                data += chunk
    m = re.match(rb"HTTP/1\.1 (\d{3})", data)
    return (int(m.group(1)) if m else None), data


@pytest.mark.parametrize("via", ["sendfile", "nosendfile", "https"])
def test_a_file_frame_beyond_the_file_is_502_not_a_crash(rigged, via):
    mark = rigged.log_mark()
    if via == "https":
        status, data = tls_get(rigged.tls_port, "/app/bad/file-beyond-size")
        assert status == 502, data[:300]
        status, data = tls_get(rigged.tls_port, "/app/ok")
        assert status == 200 and data.endswith(b"\r\n\r\n4\r\nfine\r\n0\r\n\r\n"), data
    else:
        r = rigged.request("GET", "/app/%s/bad/file-beyond-size" % via, raw=True)
        assert r.status == 502, (r.status, r.raw[:300])
        r = rigged.request("GET", "/app/%s/ok" % via, raw=True)
        assert (r.status, r.body) == (200, b"fine")
    rigged.wait_for_log(r"beyond the passed file's 10 bytes", since=mark)
    with open(rigged.error_log_path, "rb") as f:
        f.seek(mark)
        log = f.read().decode("utf-8", "replace")
    assert "exit signal" not in log, log[-2000:]


def test_the_child_keeps_no_more_descriptors_than_it_needs(rigged):
    mark = rigged.log_mark()
    r = rigged.request("GET", "/app/bad/many-descriptors", raw=True, timeout=30)
    assert r.status == 502, (r.status, r.raw[:300])
    rigged.wait_for_log(r"no file frame accounts for", since=mark)
    for _ in range(3):
        r = rigged.request("GET", "/app/ok", raw=True)
        assert (r.status, r.body) == (200, b"fine")
    assert "Too many open files" not in open(rigged.error_log_path, errors="replace").read()
