"""Daemon mode: request-timeout and interrupt-timeout, queue-timeout,
socket-timeout, connect-timeout, deadlock-timeout and startup-timeout, on the
shared sup_srv.
"""

import os
import re
import signal
import threading
import time

from daemon_helpers import socket_path, SUP_NAMES, pid_of, RESTART_RE


def test_request_timeout(sup_srv):
    mark = sup_srv.log_mark()
    results = {}

    def slow():
        t0 = time.monotonic()
        r = sup_srv.get("/rt/timeout?s=10", timeout=20)
        results["slow"] = (r.status, time.monotonic() - t0, r.body)

    t = threading.Thread(target=slow)
    t.start()
    m = sup_srv.wait_for_log(r"TIMEOUT-START pid=(\d+)", since=mark)
    pid = int(m.group(1))
    # A short request on the other thread, overlapping the stuck one.
    r = sup_srv.get("/rt/sleep?s=0.5")
    assert r.status == 200 and r.json()["pid"] == pid
    t.join(20)
    status, elapsed, body = results["slow"]
    assert status == 504, (status, body[:200])
    assert 1.8 < elapsed < 4.5, elapsed
    sup_srv.wait_for_log(r"pid=%d, group='rt'\): request on thread \d+ exceeded request-timeout of 2s" % pid, since=mark)
    sup_srv.wait_for_log(r"pid=%d, group='rt'\): .*slow_function_for_timeout" % pid, since=mark)
    sup_srv.wait_for_log(r"pid=%d, group='rt'\): shutting down \(request-timeout\)" % pid, since=mark)
    sup_srv.wait_for_log(RESTART_RE % (0, "rt", pid), since=mark, timeout=6)
    # The group serves again from a new process.
    assert pid_of(sup_srv, "rt") != pid


def test_interrupt_timeout_unwinds_without_recycling(sup_srv):
    pid = pid_of(sup_srv, "intr")
    mark = sup_srv.log_mark()
    t0 = time.monotonic()
    r = sup_srv.get("/intr/busyloop", timeout=20)
    elapsed = time.monotonic() - t0
    assert r.status == 504, (r.status, r.body[:200])
    assert 0.9 < elapsed < 2.5, elapsed
    sup_srv.wait_for_log(r"pid=%d, group='intr'\): request exceeded request-timeout of 1s; interrupting it" % pid, since=mark)
    sup_srv.wait_for_log(r"BUSYLOOP unwound: <class 'mod_wsgi.RequestTimeout'>", since=mark)
    # The exception unwound in time: the process is kept.
    time.sleep(0.3)
    assert pid_of(sup_srv, "intr") == pid
    assert "pid=%d, group='intr'): shutting down" % pid not in sup_srv.error_log(mark)


def test_interrupt_timeout_expires_then_recycles(sup_srv):
    # time.sleep(10) in C cannot be interrupted: after request-timeout + interrupt-timeout
    # the request is answered 504 and the process recycles.
    pid = pid_of(sup_srv, "intr")
    mark = sup_srv.log_mark()
    t0 = time.monotonic()
    r = sup_srv.get("/intr/timeout?s=10", timeout=20)
    elapsed = time.monotonic() - t0
    assert r.status == 504, (r.status, r.body[:200])
    assert 2.8 < elapsed < 4.5, elapsed
    sup_srv.wait_for_log(r"pid=%d, group='intr'\): .*slow_function_for_timeout" % pid, since=mark)
    sup_srv.wait_for_log(r"pid=%d, group='intr'\): shutting down \(request-timeout\)" % pid, since=mark)
    sup_srv.wait_for_log(RESTART_RE % (0, "intr", pid), since=mark, timeout=6)


def test_queue_timeout(sup_srv):
    mark = sup_srv.log_mark()
    results = {}

    def long():
        results["long"] = sup_srv.get("/queue/sleep?s=2.5&announce=q").status

    t = threading.Thread(target=long)
    t.start()
    sup_srv.wait_for_log(r"SLEEPING q", since=mark)
    t0 = time.monotonic()
    r = sup_srv.get("/queue/pid", timeout=10)
    waited = time.monotonic() - t0
    t.join(10)
    assert results["long"] == 200
    assert r.status == 504, (r.status, r.text[:200])
    assert waited < 4
    sup_srv.wait_for_log(r"queue-timeout of 1s expired for daemon process group 'queue' \(waited [\d.]+s\)", since=mark)
    # Not queued for long: served.
    assert sup_srv.get("/queue/pid").status == 200


def test_socket_timeout(sup_srv):
    mark = sup_srv.log_mark()
    t0 = time.monotonic()
    r = sup_srv.get("/sockto/sleep?s=3")
    elapsed = time.monotonic() - t0
    assert r.status == 504
    assert 0.9 < elapsed < 2.5, elapsed
    sup_srv.wait_for_log(r"daemon process group 'sockto': timed out waiting for the response \(socket-timeout\)", since=mark)
    assert sup_srv.get("/sockto/pid").status == 200


def test_connect_timeout_socket_gone(sup_srv):
    gid = SUP_NAMES.index("gone")
    victim = pid_of(sup_srv, "gone")
    path = socket_path(sup_srv, gid)
    os.unlink(path)
    # A kept connection does not need the socket file: the daemon holding it
    # goes too, so the request must connect anew (and cannot).
    mark = sup_srv.log_mark()
    os.kill(victim, signal.SIGKILL)
    sup_srv.wait_for_log(RESTART_RE % (0, "gone", victim), since=mark)
    t0 = time.monotonic()
    r = sup_srv.get("/gone/pid")
    elapsed = time.monotonic() - t0
    assert r.status == 503
    assert 0.5 < elapsed < 2.5, elapsed
    sup_srv.wait_for_log(
        r"unable to connect to daemon process group 'gone' on '%s' after \d+ attempts" % re.escape(path), since=mark
    )


def test_deadlock_timeout(sup_srv):
    mark = sup_srv.log_mark()
    before = pid_of(sup_srv, "deadlock")
    t0 = time.monotonic()
    r = sup_srv.get("/deadlock/holdgil?s=8", timeout=20)
    elapsed = time.monotonic() - t0
    assert r.status == 502, (r.status, r.body[:200])
    assert elapsed < 5.5, elapsed
    sup_srv.wait_for_log(r"pid=%d, group='deadlock'\): Python's GIL has been held for longer than deadlock-timeout" % before, since=mark)
    sup_srv.wait_for_log(RESTART_RE % (0, "deadlock", before), since=mark)
    assert pid_of(sup_srv, "deadlock") != before


def test_startup_timeout(sup_srv):
    mark = sup_srv.log_mark()
    r = sup_srv.get("/startup/pid")
    assert r.status == 500
    m = sup_srv.wait_for_log(r"pid=(\d+), group='startup'\): shutting down \(startup-timeout\)", since=mark, timeout=5)
    pid = int(m.group(1))
    sup_srv.wait_for_log(RESTART_RE % (0, "startup", pid), since=mark, timeout=4)
