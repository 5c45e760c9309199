"""Real applications: a Flask app mounted below a URL prefix, and small apps
wrapped in wsgiref.validate.validator (which raises on any PEP 3333 violation by
the server as well as by the app).
"""

import re
import time
import urllib.parse

import pytest

from harness import ApacheServer

pytestmark = pytest.mark.both_modes  # rerun in daemon mode (see conftest.py)

FLASK_APP = r'''
import time

from flask import (Flask, Response, jsonify, redirect, request,
                   stream_with_context, url_for)

app = Flask(__name__)


class Teapot(Exception):
    pass


@app.errorhandler(Teapot)
def handle_teapot(e):
    return jsonify(error="teapot", detail=str(e)), 418


@app.route("/")
def index():
    return "index=%s json=%s" % (url_for("json_view"), url_for("json_view", _external=True))


@app.route("/json")
def json_view():
    return jsonify(
        answer=42,
        script_root=request.script_root,
        path=request.path,
        url=request.url,
        args=request.args.to_dict(flat=False),
    )


@app.route("/form", methods=["POST"])
def form():
    return jsonify(form=request.form.to_dict(flat=False), content_type=request.content_type)


@app.route("/stream")
def stream():
    def generate():
        yield "first:%s;" % request.args.get("tag", "")
        time.sleep(float(request.args.get("pause", "0")))
        for i in range(3):
            yield "chunk%d;" % i
        yield "last:%s" % request.path  # request context still alive (stream_with_context)
    return Response(stream_with_context(generate()), mimetype="text/plain")


@app.route("/go")
def go():
    return redirect(url_for("index"))


@app.route("/teapot")
def teapot():
    raise Teapot("handled by the app")


@app.route("/unhandled")
def unhandled():
    raise ValueError("flask unhandled error marker")


application = app
'''

VALIDATED_APPS = r'''
import warnings
from wsgiref.validate import validator

# Any WSGIWarning (or other warning) from the validator becomes an exception.
warnings.simplefilter("error")


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello ", b"validated ", b"world"]


def echo_iter(environ, start_response):
    body = b"".join(line for line in environ["wsgi.input"])
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body)))])
    return [body]


def echo_read(environ, start_response):
    inp = environ["wsgi.input"]
    parts = [inp.readline(), inp.read(5)]
    while True:
        block = inp.read(1000)
        if not block:
            break
        parts.append(block)
    parts.extend(inp.readlines())
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [b"".join(parts)]


def generator(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"gen-1;"
    yield b""
    yield b"gen-2;"
    yield ("%s|%s|%s" % (environ["SCRIPT_NAME"], environ["PATH_INFO"], environ["QUERY_STRING"])).encode()


def write_callable(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written-1;")
    write(b"written-2;")
    return [b"returned"]


def file_wrapper(environ, start_response):
    f = open(__file__.rsplit("/", 1)[0] + "/data.txt", "rb")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return environ["wsgi.file_wrapper"](f, 7)


def broken(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["a str, not bytes"]


def not_found(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"nothing here"]


APPS = {
    "hello": hello,
    "echo_iter": echo_iter,
    "echo_read": echo_read,
    "generator": generator,
    "write": write_callable,
    "file_wrapper": file_wrapper,
    "not_found": not_found,
    "broken": broken,
}


def application(environ, start_response):
    name = environ["SCRIPT_NAME"].rsplit("/", 1)[-1] or "hello"
    return validator(APPS[name])(environ, start_response)
'''

BAD_LOG = re.compile(r"AssertionError|WSGIWarning|Traceback|Exception ignored|Exception occurred")


@pytest.fixture(scope="module")
def flask_srv(module_under_test, default_mpm):
    s = ApacheServer(
        module=module_under_test,
        mpm=default_mpm,
        config="WSGIScriptAlias /flaskapp {root}/flask.wsgi",
        apps={"flask.wsgi": FLASK_APP},
    )
    with s:  # starts; at teardown stops, checks the error log, cleans up
        yield s


@pytest.fixture(scope="module")
def val_srv(module_under_test, default_mpm):
    names = ["hello", "echo_iter", "echo_read", "generator", "write", "file_wrapper", "not_found", "broken"]
    config = "\n".join("WSGIScriptAlias /v/%s {root}/validated.wsgi" % n for n in names)
    config += "\nWSGIScriptAlias / {root}/validated.wsgi\n"
    s = ApacheServer(module=module_under_test, mpm=default_mpm, config=config, apps={"validated.wsgi": VALIDATED_APPS})
    s.write_file("data.txt", "file wrapper data, served in blocks of seven bytes\n" * 20)
    with s:  # starts; at teardown stops, checks the error log, cleans up
        yield s


# ---- Flask ----------------------------------------------------------------------------------


def test_flask_index_and_url_for(flask_srv):
    r = flask_srv.get("/flaskapp/")
    assert r.status == 200
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert r.text == "index=/flaskapp/json json=http://127.0.0.1:%d/flaskapp/json" % flask_srv.port
    # without the trailing slash Flask sees PATH_INFO "" -> redirect to the slash form
    r = flask_srv.get("/flaskapp")
    assert r.status in (301, 308)
    assert urllib.parse.urlsplit(r.header("Location")).path == "/flaskapp/"


def test_flask_jsonify(flask_srv):
    r = flask_srv.get("/flaskapp/json?x=1&x=2&y=%C3%A9")
    assert r.status == 200
    assert r.header("Content-Type") == "application/json"
    d = r.json()
    assert d["answer"] == 42
    assert d["script_root"] == "/flaskapp"
    assert d["path"] == "/json"
    # Werkzeug gives request.url in IRI form (decoded); same under mod_wsgi 4.9.4
    assert d["url"] == "http://127.0.0.1:%d/flaskapp/json?x=1&x=2&y=\u00e9" % flask_srv.port
    assert d["args"] == {"x": ["1", "2"], "y": ["\u00e9"]}


def test_flask_form_post(flask_srv):
    body = urllib.parse.urlencode([("name", "J\u00fcrgen"), ("tag", "a"), ("tag", "b&c"), ("empty", "")])
    r = flask_srv.request(
        "POST", "/flaskapp/form", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status == 200
    d = r.json()
    assert d["form"] == {"name": ["J\u00fcrgen"], "tag": ["a", "b&c"], "empty": [""]}
    assert d["content_type"] == "application/x-www-form-urlencoded"
    # wrong method
    r = flask_srv.get("/flaskapp/form")
    assert r.status == 405
    assert "POST" in r.header("Allow")


def test_flask_streaming_response(flask_srv):
    r = flask_srv.get("/flaskapp/stream?tag=t1")
    assert r.status == 200
    assert r.body == b"first:t1;chunk0;chunk1;chunk2;last:/stream"
    assert r.header("Content-Length") is None
    assert r.header("Transfer-Encoding") == "chunked"
    # The first chunk reaches the client before the generator resumes.
    with flask_srv.connect() as c:
        c.send(b"GET /flaskapp/stream?tag=t2&pause=0.8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        t0 = time.monotonic()
        c.read_until(b"first:t2;", timeout=5)
        t_first = time.monotonic() - t0
        rest = c.read_until_close(timeout=10)
        t_all = time.monotonic() - t0
    assert t_first < 0.6, "first chunk only after %.2fs: the response was buffered" % t_first
    assert t_all >= 0.7
    assert b"last:/stream" in rest and rest.endswith(b"0\r\n\r\n")


def test_flask_redirect_uses_mount_point(flask_srv):
    r = flask_srv.get("/flaskapp/go")
    assert r.status == 302
    assert urllib.parse.urlsplit(r.header("Location")).path == "/flaskapp/"


def test_flask_404_and_handled_error(flask_srv):
    r = flask_srv.get("/flaskapp/no/such/page")
    assert r.status == 404
    assert b"Not Found" in r.body
    r = flask_srv.get("/flaskapp/teapot")
    assert r.status == 418
    assert r.json() == {"error": "teapot", "detail": "handled by the app"}


def test_flask_unhandled_error_logged(flask_srv):
    mark = flask_srv.log_mark()
    r = flask_srv.get("/flaskapp/unhandled")
    assert r.status == 500
    assert b"Internal Server Error" in r.body
    # Flask logs through wsgi.errors: the traceback lands in Apache's error log.
    flask_srv.wait_for_log(r"Exception on /unhandled \[GET\]", since=mark)
    flask_srv.wait_for_log(r"ValueError: flask unhandled error marker", since=mark)


# ---- wsgiref.validate ----------------------------------------------------------------------


def check_clean(srv, mark):
    bad = [l for l in srv.error_log(mark).splitlines() if BAD_LOG.search(l)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_validator_hello(val_srv, method):
    mark = val_srv.log_mark()
    r = val_srv.request(method, "/v/hello")
    assert r.status == 200
    assert r.body == (b"Hello validated world" if method == "GET" else b"")
    assert r.header("Content-Type") == "text/plain"
    check_clean(val_srv, mark)


def test_validator_root_mount(val_srv):
    # SCRIPT_NAME "" and PATH_INFO "/" (the validator rejects SCRIPT_NAME "/")
    mark = val_srv.log_mark()
    r = val_srv.get("/")
    assert (r.status, r.body) == (200, b"Hello validated world")
    r = val_srv.get("/some/path?q=1")
    assert (r.status, r.body) == (200, b"Hello validated world")
    check_clean(val_srv, mark)


@pytest.mark.parametrize("name", ["echo_iter", "echo_read"])
def test_validator_input(val_srv, name):
    mark = val_srv.log_mark()
    body = b"line one\nline two\n" + bytes(range(256)) * 20 + b"\nlast line without newline"
    r = val_srv.request("POST", "/v/" + name, body=body, headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200
    assert r.body == body
    r = val_srv.request("POST", "/v/" + name, body=b"")
    assert (r.status, r.body) == (200, b"")
    check_clean(val_srv, mark)


def test_validator_generator(val_srv):
    mark = val_srv.log_mark()
    r = val_srv.get("/v/generator/extra%20path?a=b")
    assert r.status == 200
    assert r.body == b"gen-1;gen-2;/v/generator|/extra path|a=b"
    r = val_srv.get("/v/generator")  # no query string, empty PATH_INFO
    assert r.body == b"gen-1;gen-2;/v/generator||"
    check_clean(val_srv, mark)


def test_validator_write_callable(val_srv):
    mark = val_srv.log_mark()
    r = val_srv.get("/v/write")
    assert r.status == 200
    assert r.body == b"written-1;written-2;returned"
    check_clean(val_srv, mark)


def test_validator_file_wrapper(val_srv):
    mark = val_srv.log_mark()
    r = val_srv.get("/v/file_wrapper")
    assert r.status == 200
    assert r.body == b"file wrapper data, served in blocks of seven bytes\n" * 20
    check_clean(val_srv, mark)


def test_validator_not_found(val_srv):
    mark = val_srv.log_mark()
    r = val_srv.get("/v/not_found")
    assert (r.status, r.body) == (404, b"nothing here")
    check_clean(val_srv, mark)


def test_validator_detects_violations(val_srv):
    """Control: the validator really is active in this server -- an app that
    breaks PEP 3333 (a str body item) gives 500 and an AssertionError in the log."""
    mark = val_srv.log_mark()
    r = val_srv.get("/v/broken")
    assert r.status == 500
    val_srv.wait_for_log(r"AssertionError: Iterator yielded non-bytestring", since=mark)
