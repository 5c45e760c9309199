"""wsgi.input: the request body as seen by the application (PEP 3333 input stream).

Most checks share one server (module-scoped) with a single "op interpreter"
app: the request header X-Ops lists the calls to make on wsgi.input, the app
answers with the repr() of each result, so each test states the exact
expected return values.
"""

import hashlib
import json
import os

import pytest

from harness import ApacheServer, chunked

pytestmark = pytest.mark.both_modes  # rerun in daemon mode (see conftest.py)

INPUT_APP = r'''
import hashlib
import json
import os


def vm(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return -1


def run_ops(inp, spec):
    out = []
    for op in spec.split(","):
        name, _, arg = op.partition(":")
        args = () if arg == "" else (None,) if arg == "None" else (int(arg),)
        try:
            if name == "iter":
                res = list(inp)
            elif name == "next":
                res = next(inp)
            elif name == "iter_again":
                res = list(iter(inp))
            else:
                res = getattr(inp, name)(*args)
        except StopIteration:
            res = "StopIteration"
        except Exception as e:
            res = "raised %s" % type(e).__name__
        out.append(repr(res))
    return out


def application(environ, start_response):
    inp = environ["wsgi.input"]
    case = environ.get("QUERY_STRING", "")
    info = {
        "CONTENT_LENGTH": environ.get("CONTENT_LENGTH"),
        "input_terminated": environ.get("wsgi.input_terminated"),
        "pid": os.getpid(),
    }
    if case == "ops":
        info["ops"] = run_ops(inp, environ["HTTP_X_OPS"])
    elif case == "hash":
        # Stream the body: never more than one 64 KiB block held by the app.
        h = hashlib.sha256()
        hwm_before = vm("VmHWM")
        sizes = []
        while True:
            block = inp.read(65536)
            if not block:
                break
            sizes.append(len(block))
            h.update(block)
        info.update(sha256=h.hexdigest(), total=sum(sizes), reads=len(sizes),
                    max=max(sizes or [0]), after_eof=repr(inp.read(65536)),
                    hwm_before=hwm_before, hwm_after=vm("VmHWM"))
    elif case == "bigread":
        # One read(n) larger than the transport's pieces (1 MiB in daemon mode).
        n = int(environ["HTTP_X_READ"])
        first = inp.read(n)
        rest = inp.read()
        info.update(first_len=len(first), first_sha256=hashlib.sha256(first).hexdigest(),
                    rest_len=len(rest), sha256=hashlib.sha256(first + rest).hexdigest())
    elif case == "ignore":
        pass  # never touches wsgi.input
    elif case == "echo":
        body = inp.read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    elif case == "shortread":
        try:
            data = inp.read()
            outcome = "short %d" % len(data)
        except OSError as e:
            outcome = "OSError %s" % e
        environ["wsgi.errors"].write("SHORTREAD %s\n" % outcome)
        info["outcome"] = outcome
    else:
        raise KeyError(case)
    body = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''

CONFIG = """
WSGIScriptAlias /in {root}/input.wsgi
WSGIScriptAlias /chunked {root}/input.wsgi
WSGIScriptAlias /limited {root}/input.wsgi
WSGIScriptAlias /chunked-limited {root}/input.wsgi
<Location /chunked>
    WSGIChunkedRequest On
</Location>
<Location /limited>
    LimitRequestBody 1000
</Location>
<Location /chunked-limited>
    WSGIChunkedRequest On
    LimitRequestBody 1000
</Location>
"""


@pytest.fixture(scope="module")
def srv(module_under_test, default_mpm):
    """One server for the whole file (the `apache` fixture is per test)."""
    s = ApacheServer(module=module_under_test, mpm=default_mpm, config=CONFIG, apps={"input.wsgi": INPUT_APP})
    with s:  # starts; at teardown stops, checks the error log, cleans up
        yield s


def ops(srv, body, spec, path="/in", headers=None):
    h = {"X-Ops": spec}
    h.update(headers or {})
    r = srv.request("POST", path + "?ops", headers=h, body=body)
    assert r.status == 200, (r.status, r.body[:500])
    return r.json()


def reprs(*values):
    return [repr(v) for v in values]


# ---- read ----------------------------------------------------------------------


def test_read_all(srv):
    body = b"hello\nworld\n" * 3
    d = ops(srv, body, "read,read,read:10,readline")
    assert d["ops"] == reprs(body, b"", b"", b"")
    assert d["CONTENT_LENGTH"] == str(len(body))


def test_read_n_smaller_and_larger_than_body(srv):
    d = ops(srv, b"0123456789", "read:3,read:3,read:100,read:3,read")
    assert d["ops"] == reprs(b"012", b"345", b"6789", b"", b"")


def test_read_zero_and_exact(srv):
    d = ops(srv, b"abcdef", "read:0,read:6,read:0,read:1")
    assert d["ops"] == reprs(b"", b"abcdef", b"", b"")


def test_read_minus_one_and_none(srv):
    # read(None) follows Python's io semantics ("read all").  mod_wsgi 4.9.4 raises
    # TypeError for None; accepting it is a strict superset (PEP 3333 only
    # specifies read(size)), so this test expects the io behaviour.
    d = ops(srv, b"abc\ndef", "read:1,read:-1,read:-1")
    assert d["ops"] == reprs(b"a", b"bc\ndef", b"")
    d = ops(srv, b"abc\ndef", "read:2,read:None,read:None")
    assert d["ops"] == reprs(b"ab", b"c\ndef", b"")


# ---- readline / readlines / iteration --------------------------------------------


def test_readline(srv):
    d = ops(srv, b"one\ntwo\n\nlast-no-newline", "readline,readline,readline,readline,readline,readline")
    assert d["ops"] == reprs(b"one\n", b"two\n", b"\n", b"last-no-newline", b"", b"")


def test_readline_limit(srv):
    # limit shorter than the line (the line is split), equal, longer, -1, 0 and
    # None (None: io semantics, see test_read_minus_one_and_none; mod_wsgi raises TypeError).
    body = b"abcdef\nxy\nz\n0123456789\nend"
    d = ops(srv, body, "readline:2,readline:2,readline:100,readline:3,readline:-1,readline:0,readline:4,readline:None,readline:5")
    assert d["ops"] == reprs(b"ab", b"cd", b"ef\n", b"xy\n", b"z\n", b"", b"0123", b"456789\n", b"end")


def test_readline_long_lines(srv):
    # Lines much longer than any internal read block, and limits larger than a block.
    a = b"A" * 200000 + b"\n"
    b = b"B" * 70000 + b"\n"
    d = ops(srv, a + b + b"tail", "readline,readline:30000,readline:50000,readline,read")
    assert d["ops"] == reprs(a, b[:30000], b[30000:], b"tail", b"")


def test_readline_then_read_mixed(srv):
    d = ops(srv, b"head\nbody-bytes\nmore\n", "readline,read:4,readline,read")
    assert d["ops"] == reprs(b"head\n", b"body", b"-bytes\n", b"more\n")


def test_readlines(srv):
    d = ops(srv, b"a\nbb\nccc\nno-eol", "readlines,readlines,read")
    assert d["ops"] == reprs([b"a\n", b"bb\n", b"ccc\n", b"no-eol"], [], b"")


def test_readlines_hint(srv):
    # Python's io semantics: lines are read until their total size reaches the hint;
    # what is not returned stays readable.
    body = b"ab\ncd\nef\ngh\n"
    d = ops(srv, body, "readlines:3,readlines:4,read")
    assert d["ops"] == reprs([b"ab\n"], [b"cd\n", b"ef\n"], b"gh\n")
    d = ops(srv, body, "readlines:0,read")  # hint <= 0: no limit
    assert d["ops"] == reprs([b"ab\n", b"cd\n", b"ef\n", b"gh\n"], b"")


def test_iteration(srv):
    d = ops(srv, b"x\ny\nz", "next,iter,next,read,readline")
    assert d["ops"] == reprs(b"x\n", [b"y\n", b"z"], "StopIteration", b"", b"")
    d = ops(srv, b"", "iter_again,next")
    assert d["ops"] == reprs([], "StopIteration")


# ---- bodies: large, none, chunked ------------------------------------------------


def test_large_body_streamed_and_hashed(srv):
    # Baseline request first, so the process's peak RSS includes everything
    # needed to serve requests at all.
    base = srv.request("POST", "/in?hash", body=b"x" * 1000).json()
    assert base["total"] == 1000
    body = os.urandom(12 * 1024 * 1024 + 12345)
    r = srv.request("POST", "/in?hash", body=body)
    assert r.status == 200
    d = r.json()
    assert d["sha256"] == hashlib.sha256(body).hexdigest()
    assert d["total"] == len(body)
    assert d["max"] <= 65536
    assert d["reads"] >= len(body) // 65536
    assert d["after_eof"] == repr(b"")
    if d["pid"] == base["pid"]:
        # The module must stream too, not buffer the 12 MiB body for the app.
        grew_kb = d["hwm_after"] - base["hwm_after"]
        assert grew_kb < 6 * 1024, "peak RSS grew by %d kB reading a 12 MiB body" % grew_kb


@pytest.mark.parametrize("read,size", [(3 << 20, (3 << 20) + 4321), (3 << 20, 3 << 20), (5 << 20, (3 << 20) + 7)])
def test_read_n_over_a_mib_returns_n_bytes(srv, read, size):
    # read(n) returns n bytes unless the body ends first; daemon mode once
    # returned 1 MiB and then reported the end of the body.
    body = os.urandom(size)
    r = srv.request("POST", "/in?bigread", headers={"X-Read": str(read)}, body=body)
    assert r.status == 200, (r.status, r.body[:300])
    d = r.json()
    want = min(read, size)
    assert d["first_len"] == want
    assert d["first_sha256"] == hashlib.sha256(body[:want]).hexdigest()
    assert d["rest_len"] == size - want
    assert d["sha256"] == hashlib.sha256(body).hexdigest()


def test_post_without_body(srv):
    # No Content-Length at all (raw request): empty input, CONTENT_LENGTH absent.
    r = srv.request("POST", "/in?ops", headers={"X-Ops": "read,readline,readlines,read:5"}, raw=True)
    assert r.status == 200
    d = json.loads(r.body)
    assert d["ops"] == reprs(b"", b"", [], b"")
    assert d["CONTENT_LENGTH"] in (None, "")
    # Content-Length: 0
    d = ops(srv, b"", "read,iter")
    assert d["ops"] == reprs(b"", [])
    assert d["CONTENT_LENGTH"] == "0"


def test_chunked_refused_by_default(srv):
    mark = srv.log_mark()
    r = srv.request(
        "POST", "/in?echo", headers={"Transfer-Encoding": "chunked"}, body=chunked("abc", "def"), raw=True
    )
    assert r.status == 411
    # rwsgi: "chunked request bodies are refused (WSGIChunkedRequest Off)";
    # mod_wsgi: "... chunked transfer encoding, but optional support ... has not been enabled".
    srv.wait_for_log(r"(?i)chunked.*(forbidden|refused|not been enabled)", since=mark)


def test_chunked_accepted_in_location(srv):
    parts = [b"line one\n", b"line", b" two\n", os.urandom(100000), b"\nend"]
    body = b"".join(parts)
    r = srv.request("POST", "/chunked?echo", headers={"Transfer-Encoding": "chunked"}, body=chunked(*parts), raw=True)
    assert r.status == 200
    assert r.body == body
    # readline / iteration over a chunked body, and wsgi.input_terminated
    r = srv.request(
        "POST",
        "/chunked?ops",
        headers={"Transfer-Encoding": "chunked", "X-Ops": "readline:4,readline,iter,read"},
        body=chunked("ab", "cdef\ngh", "\n", "last"),
        raw=True,
    )
    assert r.status == 200
    d = json.loads(r.body)
    assert d["ops"] == reprs(b"abcd", b"ef\n", [b"gh\n", b"last"], b"")
    assert d["input_terminated"] is True
    assert d["CONTENT_LENGTH"] in (None, "")


def test_chunked_large_body_hashed(srv):
    body = os.urandom(3 * 1024 * 1024 + 7)
    parts = [body[i:i + 100003] for i in range(0, len(body), 100003)]
    r = srv.request("POST", "/chunked?hash", headers={"Transfer-Encoding": "chunked"}, body=chunked(*parts), raw=True)
    assert r.status == 200
    d = json.loads(r.body)
    assert d["sha256"] == hashlib.sha256(body).hexdigest()
    assert d["total"] == len(body)
    assert d["max"] <= 65536


def test_chunked_request_server_wide(apache):
    srv = apache(
        """
        WSGIChunkedRequest On
        WSGIScriptAlias /in {root}/input.wsgi
        """,
        apps={"input.wsgi": INPUT_APP},
    )
    r = srv.request("POST", "/in?echo", headers={"Transfer-Encoding": "chunked"}, body=chunked("abc", "defg"), raw=True)
    assert r.status == 200
    assert r.body == b"abcdefg"
    r = srv.request("POST", "/in?ops", headers={"Transfer-Encoding": "chunked", "X-Ops": "read:2,readlines"}, body=chunked("x\ny", "\nz"), raw=True)
    assert r.status == 200
    d = json.loads(r.body)
    assert d["ops"] == reprs(b"x\n", [b"y\n", b"z"])
    assert d["input_terminated"] is True


# ---- Expect: 100-continue ---------------------------------------------------------


def test_expect_100_sent_when_app_reads(srv):
    with srv.connect() as c:
        c.send(
            b"POST /in?echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        head = c.read_head(timeout=5)
        assert head.startswith(b"HTTP/1.1 100 Continue\r\n"), head
        c.send(b"hello")
        rest = c.read_until_close(timeout=5)
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")
    assert rest.endswith(b"\r\n\r\nhello")


def test_expect_100_not_sent_when_app_ignores_body(srv):
    # The app never reads: the final response must come at once, with no
    # "100 Continue" before it (the client never sends the body).
    with srv.connect() as c:
        c.send(
            b"POST /in?ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        head = c.read_head(timeout=5)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
        rest = c.read_until_close(timeout=5)
    assert b"100 Continue" not in head + rest
    assert json.loads(rest)["CONTENT_LENGTH"] == "5"


# ---- broken clients / limits ---------------------------------------------------------


def test_client_closes_before_content_length(srv):
    mark = srv.log_mark()
    with srv.connect() as c:
        c.send(b"POST /in?shortread HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789")
    # The socket is closed: the app's read() must fail (or come back short), not hang.
    m = srv.wait_for_log(r"SHORTREAD (OSError|short (\d+))", since=mark, timeout=10)
    if m.group(2) is not None:
        assert int(m.group(2)) < 100000
    # The server carries on.
    r = srv.request("POST", "/in?echo", body=b"still alive")
    assert (r.status, r.body) == (200, b"still alive")


def test_client_half_closes_before_content_length(srv):
    # Same with a half-closed socket: the client can still read the answer.
    mark = srv.log_mark()
    with srv.connect() as c:
        c.send(b"POST /in?shortread HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n0123456789")
        c.shutdown_write()
        try:
            data = c.read_until_close(timeout=10)
        except ConnectionError:
            data = b""
    m = srv.wait_for_log(r"SHORTREAD (OSError|short (\d+))", since=mark, timeout=10)
    if m.group(2) is not None:
        assert int(m.group(2)) < 100000
    # Whatever the answer was, it must not claim the body was complete.
    assert b'"outcome": "short 100000"' not in data
    r = srv.request("GET", "/in?ops", headers={"X-Ops": "read"})
    assert r.status == 200 and r.json()["ops"] == reprs(b"")


def test_limit_request_body_exceeded(srv):
    mark = srv.log_mark()
    r = srv.request("POST", "/limited?echo", body=b"x" * 2000)
    assert r.status == 413
    # mod_wsgi 4.9.4 leaves "AH01588: Requested content-length of 2000 is larger
    # than the configured limit of 1000" (from Apache's HTTP_IN filter); an
    # administrator needs some line telling why the request was refused.
    srv.wait_for_log(r"2000.*larger than.*limit.*1000|LimitRequestBody", since=mark)
    # Within the limit it works.
    r = srv.request("POST", "/limited?echo", body=b"y" * 1000)
    assert (r.status, r.body) == (200, b"y" * 1000)


def test_limit_request_body_exceeded_chunked(srv):
    # No Content-Length: the limit trips while the app reads.  Apache's HTTP_IN
    # filter answers 413 itself and logs why; the app's read() fails.
    mark = srv.log_mark()
    r = srv.request(
        "POST", "/chunked-limited?echo", headers={"Transfer-Encoding": "chunked"},
        body=chunked(*[b"z" * 500] * 4), raw=True,
    )
    assert r.status == 413
    assert b"z" * 500 not in r.body
    srv.wait_for_log(r"larger than the configured limit of 1000", since=mark)
    r = srv.request(
        "POST", "/chunked-limited?echo", headers={"Transfer-Encoding": "chunked"},
        body=chunked(*[b"w" * 500] * 2), raw=True,
    )
    assert (r.status, r.body) == (200, b"w" * 1000)
