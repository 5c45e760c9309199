"""Daemon mode: supervision and recycling of the daemon processes (killed,
signalled or exiting daemons, maximum-requests, restart-interval,
inactivity-timeout, cpu-time-limit), start-up failures, graceful restart and
stop of Apache, WSGIImportScript failures.
"""

import os
import re
import signal
import socket
import threading
import time

import pytest

from daemon_helpers import (
    APP,
    EMBEDDED,
    get_json,
    concurrently,
    proc_ppid,
    daemon_pids,
    socket_path,
    wait_until,
    pid_of,
    RESTART_RE,
)

# ---- supervision and recycling (sup_srv) -------------------------------------


def test_sigkill_daemon_is_replaced(sup_srv):
    pids = set()
    for _ in range(20):
        pids.add(pid_of(sup_srv, "kill"))
        if len(pids) == 2:
            break
    victim = min(pids)
    mark = sup_srv.log_mark()
    os.kill(victim, signal.SIGKILL)
    t0 = time.monotonic()
    for _ in range(10):
        r = sup_srv.get("/kill/pid", timeout=5)
        assert r.status == 200, r.status
        assert int(r.text) != victim
    assert time.monotonic() - t0 < 3
    m = sup_srv.wait_for_log(r"daemon process (\d) of group 'kill' \(pid %d\) exited \(status [^)]*\); starting a new one" % victim, since=mark)
    sup_srv.wait_for_log(r"group='kill'\): daemon process %s started" % m.group(1), since=mark)
    # Back to two processes.
    seen = set()
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        seen |= {r["pid"] for r in concurrently(lambda _: get_json(sup_srv, "/kill/sleep?s=0.3"), range(4))}
    assert len(seen) == 2 and victim not in seen


@pytest.mark.parametrize("sig, reason", [(signal.SIGUSR1, "graceful signal"), (signal.SIGTERM, "shutdown signal")])
def test_signal_to_daemon_recycles_it(sup_srv, sig, reason):
    victim = pid_of(sup_srv, "exit")
    mark = sup_srv.log_mark()
    os.kill(victim, sig)
    sup_srv.wait_for_log(r"pid=%d, group='exit'\): shutting down \(%s\)" % (victim, reason), since=mark)
    sup_srv.wait_for_log(RESTART_RE % (0, "exit", victim) + r"|" + r"\(pid %d\) exited \(status 0\)" % victim, since=mark)
    assert "(pid %d) exited (status 0); starting a new one" % victim in sup_srv.error_log(mark)
    assert pid_of(sup_srv, "exit") != victim


def test_app_exit_gives_502_and_restart(sup_srv):
    before = pid_of(sup_srv, "exit")
    mark = sup_srv.log_mark()
    r = sup_srv.get("/exit/exit?code=3")
    assert r.status == 502
    sup_srv.wait_for_log(r"daemon process group 'exit': the daemon process closed the connection before the response was complete", since=mark)
    sup_srv.wait_for_log(RESTART_RE % (0, "exit", before), since=mark)
    after = pid_of(sup_srv, "exit")
    assert after != before


def test_daemon_dies_after_response_started(sup_srv):
    before = pid_of(sup_srv, "exit")
    mark = sup_srv.log_mark()
    r = sup_srv.request("GET", "/exit/exitmid", raw=True, timeout=10)
    assert r.status == 200
    assert not r.complete
    assert r.body == b"a" * len(r.body)
    sup_srv.wait_for_log(r"daemon process group 'exit': the daemon process closed the connection before the response was complete", since=mark)
    sup_srv.wait_for_log(RESTART_RE % (0, "exit", before), since=mark)


def test_maximum_requests(sup_srv):
    # Let any earlier process of the group be fresh: start from a new one.
    first = pid_of(sup_srv, "maxreq")
    mark = sup_srv.log_mark()
    # pid_of counted one request; two more reach the limit of 3.
    assert pid_of(sup_srv, "maxreq") == first
    assert pid_of(sup_srv, "maxreq") == first
    # The 4th request (sent at once, as a client would) must be served by a new process.
    fourth = pid_of(sup_srv, "maxreq")
    assert fourth != first
    sup_srv.wait_for_log(r"pid=%d, group='maxreq'\): shutting down \(maximum-requests\)" % first, since=mark)
    sup_srv.wait_for_log(RESTART_RE % (0, "maxreq", first), since=mark)


def test_restart_interval(sup_srv):
    first = pid_of(sup_srv, "restint")
    mark = sup_srv.log_mark()
    sup_srv.wait_for_log(r"pid=%d, group='restint'\): shutting down \(restart-interval\)" % first, since=0, timeout=4)
    sup_srv.wait_for_log(RESTART_RE % (0, "restint", first), since=mark, timeout=4)
    assert pid_of(sup_srv, "restint") != first


def test_inactivity_timeout(sup_srv):
    first = pid_of(sup_srv, "inact")
    mark = sup_srv.log_mark()
    t0 = time.monotonic()
    sup_srv.wait_for_log(r"pid=%d, group='inact'\): shutting down \(inactivity-timeout\)" % first, since=0, timeout=4)
    assert time.monotonic() - t0 < 2.5
    sup_srv.wait_for_log(RESTART_RE % (0, "inact", first), since=mark, timeout=4)
    assert pid_of(sup_srv, "inact") != first


def test_inactivity_timeout_not_while_busy(sup_srv):
    # A request longer than inactivity-timeout is not cut off or recycled under it.
    mark = sup_srv.log_mark()
    r = sup_srv.get("/inact/sleep?s=2&announce=inact")
    assert r.status == 200
    pid = r.json()["pid"]
    text = sup_srv.error_log(mark)
    during = text[text.index("SLEEPING inact"):text.index("SLEPT inact")]
    assert "pid=%d, group='inact'): shutting down" % pid not in during, during


def test_cpu_time_limit(sup_srv):
    mark = sup_srv.log_mark()
    before = pid_of(sup_srv, "cpu")
    r = sup_srv.get("/cpu/spin?s=1.5", timeout=20)
    # SIGXCPU at 1 s of CPU: the process recycles gracefully; the request finishes.
    assert r.status == 200 and r.body == b"spun"
    sup_srv.wait_for_log(r"pid=%d, group='cpu'\): shutting down \(cpu-time-limit\)" % before, since=mark)
    sup_srv.wait_for_log(RESTART_RE % (0, "cpu", before), since=mark)
    assert pid_of(sup_srv, "cpu") != before


# ---------------------------------------------------------------------------
# Servers of their own.


def test_python_cannot_start(apache):
    srv = apache(
        """
        WSGIDaemonProcess nopy threads=1 python-home=/nonexistent/python connect-timeout=1 socket-timeout=3
        WSGIScriptAlias /nopy {root}/app.wsgi process-group=nopy application-group=%{GLOBAL}
        """,
        apps={"app.wsgi": APP},
        **EMBEDDED,
    )
    srv.wait_for_log(r"group='nopy'\): cannot initialise Python", timeout=10)
    t0 = time.monotonic()
    r = srv.get("/nopy/pid", timeout=15)
    elapsed = time.monotonic() - t0
    assert r.status in (503, 504), r.status
    assert elapsed < 4.5, elapsed
    srv.wait_for_log(r"daemon process 0 of group 'nopy' \(pid \d+\) exited \(status [^)]*\); starting a new one", timeout=10)
    srv.wait_for_log(r"daemon process group 'nopy': timed out waiting for the response|unable to connect to daemon process group 'nopy'", timeout=2)


def test_graceful_restart_under_load(apache):
    srv = apache(
        """
        WSGIDaemonProcess load processes=2 threads=4
        WSGIScriptAlias /load {root}/app.wsgi process-group=load application-group=%{GLOBAL}
        """,
        apps={"app.wsgi": APP},
        **EMBEDDED,
    )
    before = set()
    for _ in range(20):
        before.add(pid_of(srv, "load"))
    old_sock = socket_path(srv, 0, 0)
    assert os.path.exists(old_sock)
    stop = threading.Event()
    outcomes = []
    lock = threading.Lock()

    def client():
        while not stop.is_set():
            try:
                r = srv.get("/load/sleep?s=0.05", timeout=20)
                res = r.status
            except Exception as e:  # noqa: BLE001
                res = "%s: %s" % (type(e).__name__, e)
            with lock:
                outcomes.append(res)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.8)
    # One longer request in flight across the restart.
    slow = {}

    def slow_request():
        try:
            slow["status"] = srv.get("/load/sleep?s=1.5&announce=inflight", timeout=20).status
        except Exception as e:  # noqa: BLE001
            slow["status"] = "%s: %s" % (type(e).__name__, e)

    slow_t = threading.Thread(target=slow_request)
    slow_t.start()
    srv.wait_for_log(r"SLEEPING inflight", timeout=5)
    mark = srv.log_mark()
    srv.graceful()
    time.sleep(2.0)
    stop.set()
    for t in threads + [slow_t]:
        t.join(30)
    outcomes.append(slow["status"])
    failures = [o for o in outcomes if o != 200]
    print("graceful restart under load: %d requests, %d failures: %s" % (len(outcomes), len(failures), failures[:10]))
    problems = []
    if failures:
        problems.append("%d of %d requests failed during the graceful restart: %s" % (len(failures), len(outcomes), failures[:10]))
    after = set()
    for _ in range(20):
        after.add(pid_of(srv, "load"))
    if not after or (after & before):
        problems.append("daemon pids did not change: before %s after %s" % (before, after))
    if not os.path.exists(socket_path(srv, 0, 1)):
        problems.append("no socket for generation 1")
    if os.path.exists(old_sock):
        problems.append("old socket %s still exists" % old_sock)
    try:
        wait_until(lambda: not any(os.path.exists("/proc/%d" % p) for p in before), timeout=5,
                   what="old daemon processes exit")
    except TimeoutError:
        alive = [p for p in before if os.path.exists("/proc/%d" % p)]
        problems.append("old daemon processes %s still alive 5 s after the graceful restart (ppid %s)"
                        % (alive, [proc_ppid(p) for p in alive]))
    assert len(outcomes) > 20
    assert problems == [], "\n".join(problems + srv.log_lines(r"rwsgi", since=mark)[-30:])


def test_old_generation_child_reaches_the_new_generation_socket(apache):
    """A request that an Apache child of the ended generation handles after a
    graceful restart finds the group under the new generation's socket name
    (the socket directory is mode 0711: the child cannot list it)."""
    srv = apache(
        """
        WSGIDaemonProcess moved processes=1 threads=2
        WSGIScriptAlias /moved {root}/app.wsgi process-group=moved application-group=%{GLOBAL}
        """,
        apps={"app.wsgi": APP},
        **EMBEDDED,
    )
    old_pid = pid_of(srv, "moved")
    old_sock = socket_path(srv, 0, 0)
    # A worker of the current generation is reading this request's head when
    # the restart comes; it finishes the request after the restart.
    client = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
    client.sendall(b"GET /moved/pid HTTP/1.0\r\n")
    time.sleep(0.5)
    mark = srv.log_mark()
    srv.graceful()
    wait_until(lambda: os.path.exists(socket_path(srv, 0, 1)) and not os.path.exists(old_sock), timeout=10,
               what="the new generation's socket replaces the old one")
    client.sendall(b"Host: localhost\r\n\r\n")
    answer = b""
    while True:
        chunk = client.recv(65536)
        if not chunk:
            break
        answer += chunk
    client.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"200", (answer[:300], srv.log_lines(r"rwsgi", since=mark)[-10:])
    assert int(body) != old_pid, "answered by the old generation's daemon"
    assert "unable to connect" not in srv.error_log(mark)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGWINCH], ids=["SIGTERM-stop", "SIGWINCH-graceful-stop"])
def test_stopping_apache_stops_daemons(apache, sig):
    srv = apache(
        """
        WSGIDaemonProcess stopme processes=2 threads=2
        WSGIScriptAlias /stopme {root}/app.wsgi process-group=stopme application-group=%{GLOBAL}
        """,
        apps={"app.wsgi": APP},
        **EMBEDDED,
    )
    wait_until(lambda: len(daemon_pids(srv, "stopme")) == 2, what="two daemons started")
    pids = daemon_pids(srv, "stopme")
    assert srv.get("/stopme/pid").status == 200
    srv.proc.send_signal(sig)
    srv.proc.wait(15)
    try:
        wait_until(lambda: not any(os.path.exists("/proc/%d" % p) for p in pids), timeout=3,
                   what="daemon processes exit")
    except TimeoutError:
        alive = {p: proc_ppid(p) for p in pids if os.path.exists("/proc/%d" % p)}
        pytest.fail("daemon processes still running after Apache stopped (pid: ppid): %s" % alive)
    for p in pids:
        assert re.search(r"pid=%d, group='stopme'\): shutting down \(shutdown signal\)" % p, srv.error_log())


def test_failing_import_script_is_logged_and_group_still_serves(apache):
    """A WSGIImportScript that raises is logged with its traceback; the daemon
    keeps running and serves requests (the script loads again on demand)."""
    srv = apache(
        """
        WSGIDaemonProcess preload processes=1 threads=2
        WSGIImportScript {root}/broken.wsgi process-group=preload application-group=%{GLOBAL}
        WSGIScriptAlias /ok {root}/app.wsgi process-group=preload application-group=%{GLOBAL}
        """,
        apps={"broken.wsgi": "raise ValueError('preload went wrong 1234')\n", "app.wsgi": APP},
        **EMBEDDED,
    )
    srv.wait_for_log(r"WSGIImportScript '.*broken\.wsgi' failed: ValueError: preload went wrong 1234", timeout=10)
    srv.wait_for_log(r"ValueError: preload went wrong 1234")
    assert srv.get("/ok/pid").status == 200


SIGNALS_APP = r'''
import signal

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [repr(signal.getsignal(signal.SIGCHLD)).encode()]
'''


def test_children_and_daemons_keep_the_default_sigchld_disposition(apache):
    """The Apache parent handles SIGCHLD (to replace dead daemons at once);
    the applications in its children and in the daemons see the default."""
    srv = apache(
        """
        WSGIDaemonProcess sig processes=1 threads=1
        WSGIScriptAlias /embedded {root}/signals.wsgi application-group=%{GLOBAL}
        WSGIScriptAlias /daemon {root}/signals.wsgi process-group=sig application-group=%{GLOBAL}
        """,
        apps={"signals.wsgi": SIGNALS_APP},
        **EMBEDDED,
    )
    for path in ("/embedded", "/daemon"):
        r = srv.get(path)
        assert r.status == 200 and r.text == "<Handlers.SIG_DFL: 0>", (path, r.status, r.text)
