# One app, many edge cases, selected by the query string: /app?<case>
# Each case exercises a corner of the WSGI contract (see CASES below).
import sys


class Closing:
    """Iterable whose close() logs to wsgi.errors."""

    def __init__(self, environ, items, fail_at=None):
        self.environ = environ
        self.items = items
        self.fail_at = fail_at

    def __iter__(self):
        for i, item in enumerate(self.items):
            if i == self.fail_at:
                raise RuntimeError("failing mid-iteration")
            yield item

    def close(self):
        self.environ["wsgi.errors"].write("close() called\n")
        self.environ["wsgi.errors"].flush()


def ok(start_response, headers=None):
    start_response("200 OK", headers or [("Content-Type", "text/plain")])


def case(environ, start_response, name):
    if name == "raise_before_start":
        raise RuntimeError("raised before start_response")
    if name == "raise_after_start":
        ok(start_response)
        raise RuntimeError("raised after start_response")
    if name == "raise_in_iter_first":
        ok(start_response)
        return Closing(environ, [b"a", b"b"], fail_at=0)
    if name == "raise_mid_iter":
        ok(start_response)
        return Closing(environ, [b"first-chunk\n", b"second-chunk\n", b"x"], fail_at=2)
    if name == "raise_mid_iter_cl":
        ok(start_response, [("Content-Type", "text/plain"), ("Content-Length", "100")])
        return Closing(environ, [b"first-chunk\n", b"x"], fail_at=1)
    if name.startswith("status_"):
        status = {
            "status_noreason": "200",
            "status_alpha": "abc OK",
            "status_short": "20 OK",
            "status_crlf": "200 OK\r\nX-Injected: 1",
            "status_lf": "200 OK\nX-Injected: 1",
            "status_bytes": b"200 OK",
            "status_int": 200,
            "status_999": "999 Weird",
            "status_099": "099 Low",
            "status_spaces": "200  Two spaces",
            "status_custom": "299 My Reason",
            "status_404": "404 Custom Not Found",
        }[name]
        start_response(status, [("Content-Type", "text/plain")])
        return [b"body\n"]
    if name.startswith("hdr_"):
        hdr = {
            "hdr_space_name": ("X Bad", "v"),
            "hdr_colon_name": ("X:Bad", "v"),
            "hdr_lf_value": ("X-Bad", "a\nb"),
            "hdr_crlf_value": ("X-Bad", "a\r\nX-Injected: 1"),
            "hdr_int_value": ("X-Bad", 5),
            "hdr_bytes_value": ("X-Bad", b"v"),
            "hdr_bytes_name": (b"X-Bad", "v"),
            "hdr_nonlatin_value": ("X-Bad", "\u20ac"),
            "hdr_latin1_value": ("X-Bad", "caf\xe9"),
            "hdr_connection": ("Connection", "close"),
            "hdr_te": ("Transfer-Encoding", "chunked"),
            "hdr_keepalive": ("Keep-Alive", "timeout=5"),
            "hdr_upgrade": ("Upgrade", "websocket"),
            "hdr_empty_value": ("X-Empty", ""),
            "hdr_tuple3": ("X-Bad", "v", "extra"),
        }[name]
        start_response("200 OK", [("Content-Type", "text/plain"), hdr])
        return [b"body\n"]
    if name == "headers_not_list":
        start_response("200 OK", (("Content-Type", "text/plain"),))
        return [b"tuple headers\n"]
    if name == "str_first":
        ok(start_response)
        return ["str body"]
    if name == "str_later":
        ok(start_response)
        return [b"bytes first\n", "str later"]
    if name == "return_none":
        ok(start_response)
        return None
    if name == "return_bytes":
        ok(start_response)
        return b"a bytes object, iterated as ints?"
    if name == "return_str":
        ok(start_response)
        return "plain str"
    if name == "no_start_response":
        return [b"never started"]
    if name == "cl_abc":
        ok(start_response, [("Content-Type", "text/plain"), ("Content-Length", "abc")])
        return [b"body\n"]
    if name == "cl_negative":
        ok(start_response, [("Content-Type", "text/plain"), ("Content-Length", "-1")])
        return [b"body\n"]
    if name == "cl_larger":
        ok(start_response, [("Content-Type", "text/plain"), ("Content-Length", "100")])
        return [b"only 13 bytes"]
    if name == "cl_smaller":
        ok(start_response, [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return Closing(environ, [b"0123456789", b"more"])
    if name == "cl_dup":
        ok(start_response, [("Content-Type", "text/plain"), ("Content-Length", "5"), ("Content-Length", "5")])
        return [b"12345"]
    if name == "start_twice":
        ok(start_response)
        start_response("500 Again", [])
        return [b"twice\n"]
    if name == "exc_info_before_body":
        ok(start_response, [("Content-Type", "text/plain"), ("X-First", "1")])
        try:
            raise ValueError("handled error")
        except ValueError:
            start_response("500 Handled Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"error page\n"]
    if name == "exc_info_after_body":
        ok(start_response)

        def gen():
            yield b"first\n"
            try:
                raise ValueError("late error")
            except ValueError:
                start_response("500 Late", [], sys.exc_info())
            yield b"unreachable\n"

        return gen()
    if name == "write_then_iter":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written-1\n")
        write(b"written-2\n")
        return [b"iterated\n"]
    if name == "write_str":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write("a str")
        return [b""]
    if name == "write_only":
        write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
        write(b"abcdef")
        return []
    if name == "close_called":
        ok(start_response)
        return Closing(environ, [b"one\n", b"two\n"])
    if name == "empty_iter":
        ok(start_response)
        return []
    if name == "empty_items":
        ok(start_response)
        return [b"", b"x", b""]
    if name == "generator":
        ok(start_response)
        return (b"%d\n" % i for i in range(3))
    if name == "resp_204_body":
        start_response("204 No Content", [("Content-Type", "text/plain")])
        return [b"body for 204"]
    if name == "resp_304_body":
        start_response("304 Not Modified", [("Content-Type", "text/plain")])
        return [b"body for 304"]
    if name == "head":
        environ["wsgi.errors"].write("app ran for %s\n" % environ["REQUEST_METHOD"])
        ok(start_response, [("Content-Type", "text/plain"), ("X-Method", environ["REQUEST_METHOD"])])
        return Closing(environ, [b"body for HEAD?\n"])
    if name == "head_cl":
        ok(start_response, [("Content-Type", "text/plain"), ("Content-Length", "15")])
        return [b"body for HEAD?\n"]
    if name == "big":
        ok(start_response)
        return [b"x" * 1000000 for _ in range(20)]
    if name == "slow":
        import time
        ok(start_response)

        def gen():
            try:
                for i in range(50):
                    yield b"tick %d\n" % i
                    time.sleep(0.1)
            finally:
                environ["wsgi.errors"].write("generator finally, i=%d\n" % i)
        return Closing(environ, gen())
    raise KeyError("unknown case %r" % name)


def application(environ, start_response):
    return case(environ, start_response, environ.get("QUERY_STRING", ""))
