"""Daemon mode against hostile or unlucky timing: an application that forks,
a request the child gave up on, a group whose only thread is stuck, a client
that uploads slowly. Each of these once went wrong (issue 10)."""

import hashlib
import os
import signal
import socket
import threading
import time

import pytest

from daemon_helpers import pid_of, wait_until

APP = r'''
import hashlib, os, sys, time

def application(environ, start_response):
    path = environ["PATH_INFO"]
    query = environ.get("QUERY_STRING", "")
    if path == "/fork":
        # An honest mistake: the forked process returns from the application
        # too, as if it were the server.
        child = os.fork()
        body = b"from fork" if child == 0 else b"from parent " + query.encode()
        if child == 0 and query == "linger":
            with open(environ["MARKS"] + "/fork.pid", "w") as f:
                f.write(str(os.getpid()))
            time.sleep(30)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    if path == "/pid":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    if path == "/echo":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"echo " + query.encode() + b" " + str(os.getpid()).encode()]
    if path == "/sleep":
        time.sleep(float(query))
        start_response("200 OK", [])
        return [b"slept"]
    if path == "/mark":
        # Leaves a trace of having run at all.
        open(environ["MARKS"] + "/" + query, "w").close()
        start_response("200 OK", [])
        return [b"marked"]
    if path == "/upload":
        data = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        start_response("200 OK", [])
        return [("%d %s" % (len(data), hashlib.sha256(data).hexdigest())).encode()]
    start_response("404 Not Found", [])
    return [b""]
'''

CONFIG = """
SetEnv MARKS {root}/marks
WSGIDaemonProcess forks processes=1 threads=4
# %{GLOBAL}: Python 3.11 aborts a process forked (os.fork()) from a sub-interpreter.
WSGIScriptAlias /forks {root}/app.wsgi process-group=forks application-group=%{GLOBAL}
WSGIDaemonProcess single processes=1 threads=1 socket-timeout=2
WSGIScriptAlias /single {root}/app.wsgi process-group=single
WSGIDaemonProcess stuck processes=1 threads=1 request-timeout=2 shutdown-timeout=2 socket-timeout=30
WSGIScriptAlias /stuck {root}/app.wsgi process-group=stuck
WSGIDaemonProcess uploads processes=1 threads=2 socket-timeout=2
WSGIScriptAlias /uploads {root}/app.wsgi process-group=uploads
"""


@pytest.fixture(scope="module")
def srv(module_under_test):
    from harness import ApacheServer

    if module_under_test != "rwsgi":
        pytest.skip("mod_rwsgi's daemon mode")
    s = ApacheServer(module="rwsgi", mode="embedded", config=CONFIG, apps={"app.wsgi": APP}, extra_modules=[("env_module", "mod_env.so")])
    os.makedirs(s.path("marks"), exist_ok=True)
    os.chmod(s.path("marks"), 0o777)
    s.start()
    try:
        yield s
    finally:
        s.stop(check_log=False)
        s.check_log()
        s.cleanup()


def test_a_forked_process_cannot_answer_for_the_daemon(srv):
    # Each request forks; the forked process returns a response of its own.
    # Every response must be the one of its own request.
    for i in range(12):
        r = srv.get("/forks/fork?%d" % i)
        assert (r.status, r.body) == (200, b"from parent %d" % i), (i, r.status, r.body)
        r = srv.get("/forks/echo?%d" % i)
        assert r.status == 200 and r.body.startswith(b"echo %d " % i), (i, r.body)
    assert b"from fork" not in srv.get("/forks/echo?last").body


def test_a_signal_to_a_forked_process_does_not_stop_the_daemon(srv):
    daemon = pid_of(srv, "forks")
    mark = srv.log_mark()
    r = srv.get("/forks/fork?linger")
    assert (r.status, r.body) == (200, b"from parent linger")
    pid_file = srv.path("marks", "fork.pid")
    wait_until(lambda: os.path.exists(pid_file) and open(pid_file).read(), what="the forked process's pid")
    forked = int(open(pid_file).read())
    assert forked != daemon
    os.kill(forked, signal.SIGTERM)
    # Default disposition in the forked process: it dies of the signal.
    wait_until(lambda: not os.path.exists("/proc/%d" % forked) or open("/proc/%d/stat" % forked).read().split(")")[1].split()[0] == "Z",
               what="the forked process to die of SIGTERM")
    time.sleep(0.5)
    assert "shutting down" not in srv.error_log(mark), srv.error_log(mark)
    r = srv.get("/forks/echo?after")
    assert r.status == 200 and r.body == b"echo after %d" % daemon


def test_a_request_the_child_gave_up_on_is_never_started(srv):
    # One thread, busy for 4 s (its own child gives up at 2 s, the thread
    # stays busy); a second request waits, its child gives up after
    # socket-timeout (2 s) with a 504. It must not run when the thread frees.
    mark = srv.log_mark()
    marker = srv.path("marks", "late")
    results = {}

    def busy():
        results["busy"] = srv.get("/single/sleep?4", timeout=20).status

    t = threading.Thread(target=busy)
    t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    r = srv.get("/single/mark?late", timeout=20)
    assert r.status == 504, (r.status, r.body[:200])
    assert time.monotonic() - t0 < 4, "the 504 came from socket-timeout, before the busy request ended"
    t.join(20)
    assert results["busy"] == 504
    time.sleep(1.5)
    assert not os.path.exists(marker), "the request ran after its 504"
    srv.wait_for_log(r"request for daemon process group 'single' not started: the Apache child (gave up waiting|has closed the connection)", since=mark)
    assert srv.get("/single/echo?next").status == 200


def test_a_group_whose_only_thread_is_stuck_recovers_within_shutdown_timeout(srv):
    pid = pid_of(srv, "stuck")
    mark = srv.log_mark()
    r = srv.get("/stuck/sleep?60", timeout=40)
    assert r.status == 504
    timed_out = time.monotonic()
    srv.wait_for_log(r"exceeded request-timeout of 2s", since=mark)
    recovered = None
    while time.monotonic() - timed_out < 20:
        try:
            r = srv.get("/stuck/echo?back", timeout=1.5)
            if r.status == 200:
                recovered = time.monotonic() - timed_out
                break
        except (socket.timeout, TimeoutError, OSError):
            pass
        time.sleep(0.1)
    assert recovered is not None, "the group did not recover within 20 s"
    # shutdown-timeout (2 s) + 1 s, plus the start of a new process (Python,
    # the script) on a loaded machine.
    assert recovered < 2 + 1 + 3, "recovered after %.1fs" % recovered
    assert pid_of(srv, "stuck") != pid


def test_a_slow_steady_upload_is_not_cut_off_by_socket_timeout(srv):
    # 96 KiB over about 5 s, in pieces 0.25 s apart: no gap reaches the
    # group's socket-timeout of 2 s, the whole upload does.
    body = os.urandom(96 * 1024)
    pieces = [body[i:i + 5000] for i in range(0, len(body), 5000)]
    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as c:
        c.sendall(b"POST /uploads/upload HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
        t0 = time.monotonic()
        for p in pieces:
            c.sendall(p)
            time.sleep(0.25)
        assert time.monotonic() - t0 > 4
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:300]
    assert b"\r\n%d %s\r\n" % (len(body), hashlib.sha256(body).hexdigest().encode()) in data, data[-200:]


def test_a_panic_in_a_request_thread_costs_one_request(module_under_test):
    # The test hook makes the daemon's request thread panic for one script;
    # with one thread, the next request shows the thread survived.
    from harness import ApacheServer

    if module_under_test != "rwsgi":
        pytest.skip("mod_rwsgi's daemon mode")
    s = ApacheServer(
        module="rwsgi",
        mode="embedded",
        config="""
        WSGIDaemonProcess panicky processes=1 threads=1
        WSGIScriptAlias /boom {root}/boom.wsgi process-group=panicky
        WSGIScriptAlias /fine {root}/app.wsgi process-group=panicky
        """,
        apps={"app.wsgi": APP, "boom.wsgi": APP},
        env={"RWSGI_TEST_PANIC_SCRIPT": "/boom.wsgi"},
    )
    s.bad_log_patterns = [p for p in s.bad_log_patterns if p != r"panic"]
    with s:
        pid = int(s.get("/fine/pid").body)
        mark = s.log_mark()
        for _ in range(3):
            r = s.get("/boom/echo?x", timeout=10)
            assert r.status == 500, (r.status, r.body[:200])
        s.wait_for_log(r"internal error \(panic caught\) in a daemon request: test hook", since=mark)
        r = s.get("/fine/echo?after", timeout=10)
        assert r.status == 200 and r.body == b"echo after %d" % pid
