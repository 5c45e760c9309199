"""Embedded Python under each Apache MPM: process model flags, per-thread state,
concurrency, graceful restart (idle and under load) and SIGTERM stop.
"""

import collections
import http.client
import json
import signal
import subprocess
import threading
import time

import pytest

from harness import ApacheServer

MPMS = ["event", "worker", "prefork"]

APP = r'''
import json
import os
import threading
import time
from urllib.parse import parse_qs

local = threading.local()
lock = threading.Lock()
inflight = 0


def application(environ, start_response):
    global inflight
    q = environ.get("QUERY_STRING", "")
    local.count = getattr(local, "count", 0) + 1
    with lock:
        inflight += 1
        now = inflight
    try:
        sleep = parse_qs(q).get("sleep")
        if sleep:
            if "announce" in q:
                environ["wsgi.errors"].write("SLEEPING %s\n" % sleep[0])
                environ["wsgi.errors"].flush()
            time.sleep(float(sleep[0]))
        with lock:
            now = max(now, inflight)
    finally:
        with lock:
            inflight -= 1
    body = json.dumps({
        "pid": os.getpid(),
        "ident": threading.get_ident(),
        "native": threading.get_native_id(),
        "count": local.count,
        "inflight": now,
        "multithread": environ["wsgi.multithread"],
        "multiprocess": environ["wsgi.multiprocess"],
        "run_once": environ["wsgi.run_once"],
        "echo": q,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
'''

CONFIG = "WSGIScriptAlias /app {root}/app.wsgi"


@pytest.fixture(scope="module", params=MPMS)
def srv(request, module_under_test):
    """One server per MPM for the non-destructive checks."""
    s = ApacheServer(module=module_under_test, mpm=request.param, config=CONFIG, apps={"app.wsgi": APP})
    with s:  # starts; at teardown stops, checks the error log, cleans up
        yield s


def get(srv, query="", timeout=15):
    r = srv.get("/app?" + query, timeout=timeout)
    assert r.status == 200, (r.status, r.body[:300])
    d = r.json()
    assert d["echo"] == query
    return d


def test_request_and_process_model(srv):
    d = get(srv, "hello")
    # As mod_wsgi: multithread = the MPM is threaded and ThreadsPerChild > 1;
    # multiprocess = ap_mpm_query(AP_MPMQ_MAX_DAEMONS) > 1.  The harness sizing:
    # event/worker MaxRequestWorkers 4 / ThreadsPerChild 4 = 1 active daemon
    # (ServerLimit 2 only leaves room for the old child during a graceful
    # restart), so multiprocess is False; prefork runs up to 4 children.
    # (mod_wsgi 4.9.4 gives the same values.)
    assert d["multithread"] is (srv.mpm != "prefork")
    assert d["multiprocess"] is (srv.mpm == "prefork")
    assert d["run_once"] is False
    assert d["pid"] in srv.child_pids()


@pytest.mark.parametrize(
    "mpm, sizing, multithread, multiprocess",
    [
        ("prefork", "StartServers 1\nServerLimit 1\nMaxRequestWorkers 1\n", False, False),
        ("event", "StartServers 1\nServerLimit 1\nThreadLimit 4\nThreadsPerChild 4\nMaxRequestWorkers 4\n", True, False),
        ("worker", "StartServers 1\nServerLimit 1\nThreadLimit 1\nThreadsPerChild 1\nMaxRequestWorkers 1\n", False, False),
        ("event", "StartServers 1\nServerLimit 2\nThreadLimit 2\nThreadsPerChild 2\nMaxRequestWorkers 4\n", True, True),
        ("worker", "StartServers 1\nServerLimit 3\nThreadLimit 2\nThreadsPerChild 2\nMaxRequestWorkers 6\n", True, True),
    ],
)
def test_process_model_single_process(apache, mpm, sizing, multithread, multiprocess):
    srv = apache(CONFIG, apps={"app.wsgi": APP}, mpm=mpm, mpm_config=sizing)
    d = get(srv, "x")
    assert (d["multithread"], d["multiprocess"]) == (multithread, multiprocess)


def test_thread_local_persists_across_requests(srv):
    seen = collections.defaultdict(list)
    for i in range(24):
        d = get(srv, "n=%d" % i)
        seen[(d["pid"], d["native"])].append((d["count"], d["ident"]))
    # At most 2 children x 4 threads (or 4 single-thread children) serve 24
    # requests, so some thread served several: its thread-local must have kept counting.
    assert max(len(v) for v in seen.values()) >= 2, seen
    for key, values in seen.items():
        counts = [c for c, _ in values]
        assert counts == list(range(counts[0], counts[0] + len(counts))), (key, counts)
        assert len({ident for _, ident in values}) == 1, (key, values)
    assert max(c for v in seen.values() for c, _ in v) >= 2


def test_concurrent_requests(srv):
    results, errors = [], []

    def client(n):
        for i in range(10):
            q = "sleep=0.02&c=%d&i=%d" % (n, i)
            try:
                results.append(get(srv, q, timeout=30))
            except Exception as e:  # collected, asserted below
                errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]
    assert len(results) == 200
    assert len({r["echo"] for r in results}) == 200
    if srv.mpm == "prefork":
        assert len({r["pid"] for r in results}) >= 2  # several processes served the load
        assert max(r["inflight"] for r in results) == 1
    else:
        assert len({(r["pid"], r["native"]) for r in results}) >= 2
        # Requests ran in parallel inside one process (the GIL is released while an app sleeps).
        assert max(r["inflight"] for r in results) >= 2


# ---- restart and stop (fresh server per test) ----------------------------------------------


def sigterm_stop(srv, timeout):
    """`apache2 -k stop`: SIGTERM to the parent (the harness's own stop() is a
    graceful SIGWINCH stop).  Returns the seconds until the parent exited."""
    start = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        srv.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    elapsed = time.monotonic() - start
    srv.stop(check_log=False)  # reaps / kills whatever is left
    return elapsed


def wait_gone(srv, pids, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = set(pids) & set(srv._our_pids())
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError("old children %s still running %.0fs after the restart" % (sorted(alive), timeout))


@pytest.mark.parametrize("mpm", MPMS)
def test_graceful_restart(apache, mpm):
    srv = apache(CONFIG, apps={"app.wsgi": APP}, mpm=mpm)
    for _ in range(3):
        get(srv, "before")
    for round_ in range(2):
        old = srv.child_pids()
        assert old
        mark = srv.log_mark()
        srv.graceful()
        for _ in range(4):
            d = get(srv, "after-%d" % round_)
            assert d["pid"] not in old
            assert d["count"] >= 1
        wait_gone(srv, old)  # the old generation exits (no hang in Python finalisation)
        new = srv.child_pids()
        assert new and not set(new) & set(old)
        # Python came up again in the new children
        srv.wait_for_log(r"(?i)(python initiali[sz]ed|initializing python)", since=mark)
    srv.stop(check_log=False)
    srv.check_log()


@pytest.mark.parametrize("mpm", MPMS)
def test_sigterm_stop_is_prompt(apache, mpm):
    srv = apache(CONFIG, apps={"app.wsgi": APP}, mpm=mpm)
    for _ in range(5):
        get(srv, "warm")
    # one request still inside the app when SIGTERM arrives
    slow = {}

    def slow_request():
        try:
            slow["r"] = srv.get("/app?sleep=1.5&announce=1", timeout=15)
        except Exception as e:
            slow["e"] = e

    t = threading.Thread(target=slow_request)
    t.start()
    srv.wait_for_log(r"SLEEPING 1\.5")  # the request is inside the app
    elapsed = sigterm_stop(srv, timeout=10)
    t.join(15)
    assert not srv._our_pids()
    assert elapsed < 6, "SIGTERM stop took %.1fs" % elapsed
    log = srv.error_log()
    assert "caught SIGTERM, shutting down" in log
    assert "still did not exit" not in log
    assert "SIGKILL" not in log
    srv.check_log()


@pytest.mark.parametrize("mpm", MPMS)
def test_load_during_graceful_restart(apache, mpm):
    """Requests keep flowing while the server restarts gracefully.

    A completed response must always be correct.  Connection-level errors
    (refused/reset/timed out) are counted separately and must be 0 too:
    measured with Debian's mod_wsgi 4.9.4 (3 runs per MPM, ~190 requests each,
    Connection: close), worker and prefork show 0 connection errors; under event
    mod_wsgi shows 4 per run, all client time-outs on requests the old child had
    accepted before it deadlocked in Py_EndInterpreter at exit (mod_wsgi issue
    #730, see harness.py) -- a mod_wsgi bug, so not tolerated here.  mod_rwsgi
    shows 0 under all three MPMs.
    """
    srv = apache(CONFIG, apps={"app.wsgi": APP}, mpm=mpm)
    get(srv, "warm")
    stop = threading.Event()
    counts = collections.Counter()
    problems = []

    def client(n):
        i = 0
        while not stop.is_set():
            q = "sleep=0.01&c=%d&i=%d" % (n, i)
            i += 1
            try:
                r = srv.get("/app?" + q, timeout=20)
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                counts["connection_error"] += 1
                problems.append("conn: %r" % e)
                continue
            ok = r.status == 200 and not r.incomplete and json.loads(r.body)["echo"] == q
            counts["ok" if ok else "bad"] += 1
            if not ok:
                problems.append("bad: %s %r" % (r.status, r.body[:200]))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    before = counts["ok"]
    srv.graceful()
    time.sleep(0.3)
    srv.graceful()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(30)
    assert before > 0
    assert counts["ok"] > before, counts  # requests were served after the restarts
    assert counts["bad"] == 0, problems[:5]
    assert counts["connection_error"] == 0, (counts, problems[:5])
    srv.stop(check_log=False)
    srv.check_log()
