"""mod_wsgi's events and metrics API (subscribe_events, event_callbacks,
request_data, active_requests, process_metrics, request_metrics,
server_metrics), checked from a test app in both modes, and compared with
Debian's mod_wsgi 4.9.4 for the same requests where it is installed."""

import json
import os
import re
import threading
import time

import pytest

import harness

pytestmark = pytest.mark.both_modes  # rerun in daemon mode (see conftest.py)

APP = r'''
import json, os, mod_wsgi
LOG = %(log)r
def on_event(name, **kw):
    with open(LOG, "a") as f:
        f.write(json.dumps({"event": name, "keys": sorted(kw),
            "request_id": kw.get("request_id"),
            "same_data": kw.get("request_data") is mod_wsgi.request_data() if "request_data" in kw else None,
            "status": kw.get("response_status"),
            "exc": kw["exception_info"][0].__name__ if kw.get("exception_info") else None,
            "input_length": kw.get("input_length"), "output_length": kw.get("output_length"),
            "times_ok": all(isinstance(kw[k], float) and kw[k] >= 0 for k in kw if k.endswith("_time") or k.endswith("_start") or k.endswith("_finish")),
            "mark": (kw.get("request_data") or {}).get("mark")}) + "\n")
    if name == "request_started":
        kw["request_data"]["mark"] = "seen"
mod_wsgi.subscribe_events(on_event)
def application(environ, start_response):
    data = mod_wsgi.request_data()
    body = environ["wsgi.input"].read()
    if environ["PATH_INFO"] == "/raise":
        raise ValueError("boom")
    mod_wsgi.request_metrics()
    out = {
        "callbacks": len(mod_wsgi.event_callbacks),
        "data_is_dict": isinstance(data, dict), "mark": data.get("mark"),
        "request_id": environ["mod_wsgi.request_id"],
        "active_ids": list(mod_wsgi.active_requests),
        "active_is_data": mod_wsgi.active_requests.get(environ["mod_wsgi.request_id"]) is data,
        "process_metrics": mod_wsgi.process_metrics(),
        "request_metrics": mod_wsgi.request_metrics(),
        "server_metrics": mod_wsgi.server_metrics(),
        "body": len(body),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(out).encode()]
'''


def run_site(apache, module, extra=""):
    srv = apache("WSGIScriptAlias /a {root}/a.wsgi\n" + extra, start=False, module=module)
    os.chmod(srv.root, 0o1777)  # the app (www-data) writes its event log here
    log = srv.path("events.log")
    srv.write_file("a.wsgi", APP % {"log": log})
    srv.start()
    first = srv.request("POST", "/a/x", body=b"hello").json()
    srv.get("/a/raise")
    srv.stop()
    with open(log) as f:
        events = [json.loads(l) for l in f]
    return first, events


def shape(value):
    """Keys (recursively, first item of lists) and value types, for comparing with mod_wsgi."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value and isinstance(value[0], dict) else "list"
    return type(value).__name__ if not isinstance(value, bool) else "bool"


def check(first, events, mode):
    assert first["callbacks"] == 1 and first["data_is_dict"] and first["mark"] == "seen"
    assert first["request_id"] in first["active_ids"] and first["active_is_data"]
    assert first["body"] == 5
    pm = first["process_metrics"]
    assert pm["pid"] > 0 and pm["active_requests"] == 1 and pm["memory_rss"] > 0
    assert pm["threads"] and pm["threads"][0]["thread_id"] >= 1
    assert first["request_metrics"]["request_threads_maximum"] >= 1
    assert len(first["request_metrics"]["application_time_buckets"]) == 16
    names = [e["event"] for e in events]
    # Two requests, then the process stops (its shutdown event).
    assert names[:7] == ["request_started", "response_started", "request_finished",
                         "request_started", "request_exception", "request_finished", "process_stopping"], names
    started, response, finished = events[0], events[1], events[2]
    assert started["request_id"] == response["request_id"] == finished["request_id"] == first["request_id"]
    assert response["status"] == "200 OK" and response["mark"] == "seen"
    assert finished["input_length"] == 5 and finished["output_length"] > 0
    assert all(e["times_ok"] for e in events)
    assert all(e["same_data"] for e in events if e["same_data"] is not None)
    assert events[4]["exc"] == "ValueError"
    return {e["event"]: e["keys"] for e in events}


def test_events_and_metrics(apache):
    first, events = run_site(apache, "rwsgi")
    keys = check(first, events, apache.mode if hasattr(apache, "mode") else harness.default_mode())
    assert first["server_metrics"] is None  # not enabled
    if os.path.exists(harness.MOD_WSGI_PATH):
        ref_first, ref_events = run_site(apache, "wsgi")
        ref_keys = {e["event"]: e["keys"] for e in ref_events}
        assert set(keys) == set(ref_keys)
        for name, ours in keys.items():
            # mod_wsgi 4.9.4 leaves the CPU times out of request_finished now and then.
            assert set(ref_keys[name]) <= set(ours) and set(ours) - set(ref_keys[name]) <= {"cpu_user_time", "cpu_system_time"}, name
        for name in ("process_metrics", "request_metrics"):
            assert shape(first[name]) == shape(ref_first[name]), name


def test_server_metrics_when_enabled(apache):
    """WSGIServerMetrics On: Apache's children report Apache's scoreboard, this
    request's worker busy in it. (Daemon groups: the test below.)"""
    extra = "WSGIServerMetrics On\n<Location /a>\nWSGIProcessGroup %{GLOBAL}\n</Location>"
    first, _ = run_site(apache, "rwsgi", extra)
    sm = first["server_metrics"]
    assert sm is not None and sm["processes"]
    assert {"server_limit", "thread_limit", "running_generation", "restart_time", "current_time", "running_time"} <= set(sm)
    me = [p for p in sm["processes"] if p["pid"] == first["process_metrics"]["pid"]]
    assert me, sm["processes"]
    assert any(w["status"] == "W" for w in me[0]["workers"])  # this request's thread
    if os.path.exists(harness.MOD_WSGI_PATH):
        ref_first, _ = run_site(apache, "wsgi", extra)
        assert shape(first["server_metrics"])["processes"][0]["workers"] == shape(ref_first["server_metrics"])["processes"][0]["workers"]
        assert set(sm) == set(ref_first["server_metrics"])


# Apache's limits set here, so that what a daemon reports can be checked against them.
SCOREBOARD_MPM = """\
StartServers 2
ServerLimit 3
ThreadLimit 6
ThreadsPerChild 3
MinSpareThreads 1
MaxSpareThreads 6
MaxRequestWorkers 6
"""

SCOREBOARD_APP = r'''
import json, os, time, mod_wsgi
def scribble():
    """What a buggy or hostile process of the group can do: leave the
    sequence word of its copy of the scoreboard odd (a rewrite under way)."""
    import struct
    for line in open("/proc/self/maps"):
        if "rwsgi-metrics" not in line:
            continue
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(lo)
            data = mem.read(hi - lo)
            at = data.find(struct.pack("<Q", 0x5257534749534231))  # the copy's magic
            while at % 8:
                at = data.find(struct.pack("<Q", 0x5257534749534231), at + 1)
            mem.seek(lo + at + 32)  # magic, version, processes, threads, seq
            mem.write(struct.pack("<Q", 0x1234567))
            return
    raise RuntimeError("no metrics mapping")
def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/slow":
        # Held until the test has seen it in the scoreboard (or 40 s).
        release = environ["QUERY_STRING"]
        for _ in range(400):
            if os.path.exists(release):
                break
            time.sleep(0.1)
    if path == "/scribble":
        scribble()
    body = json.dumps({"pid": os.getpid(), "sm": mod_wsgi.server_metrics() if path != "/slow" else None})
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body.encode()]
'''

# ExtendedStatus On: Apache writes each worker's request line, client and
# virtual host into the scoreboard (mod_status turns it on when loaded).
SCOREBOARD_SITE = """
ExtendedStatus On
WSGIServerMetrics On
WSGIDaemonProcess sm processes=1 threads=4 %(on)s
WSGIScriptAlias /d {root}/sb.wsgi process-group=sm application-group=%%{GLOBAL}
WSGIScriptAlias /e {root}/sb.wsgi process-group=%%{GLOBAL} application-group=%%{GLOBAL}
"""


def poll(srv, path, until, timeout=40.0):
    """GETs `path` (JSON) until `until(answer)` holds; returns that answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = srv.get(path).json()
        if until(answer):
            return answer
        assert time.monotonic() < deadline, answer
        time.sleep(0.3)


def scoreboard_site(apache, module, on="server-metrics=On"):
    srv = apache(SCOREBOARD_SITE % {"on": on}, apps={"sb.wsgi": SCOREBOARD_APP}, module=module, mpm_config=SCOREBOARD_MPM, mpm="event")
    os.chmod(srv.root, 0o1777)  # the release file is made by the test, read by the app
    return srv


def test_daemon_server_metrics_is_apaches_scoreboard(apache):
    """server-metrics=On: a daemon process reports Apache's scoreboard (the
    copy Apache's side refreshes in the group's memory): Apache's limits,
    Apache's children, a request in flight seen from another request, and
    access counts that grow. Off: None."""
    srv = scoreboard_site(apache, "rwsgi")
    # A copy from the start (made before Apache forks its children), with Apache's limits.
    early = srv.get("/d/sm").json()["sm"]
    assert early is not None and (early["server_limit"], early["thread_limit"]) == (3, 6)
    # Apache's children in it from the next copies on (children that start
    # later appear a copy later): wait until the copy lists the children the
    # scoreboard itself lists.
    def children(answer):
        return {p["pid"] for p in answer["sm"]["processes"] if p["pid"]}
    deadline = time.monotonic() + 40
    while True:
        first, embedded = srv.get("/d/sm").json(), srv.get("/e/sm").json()
        if children(first) and children(first) == children(embedded) and embedded["pid"] in children(first):
            break
        assert time.monotonic() < deadline, (first, embedded)
        time.sleep(0.3)
    sm, daemon_pid = first["sm"], first["pid"]
    assert (sm["server_limit"], sm["thread_limit"]) == (3, 6)
    assert len(sm["processes"]) == 3 and all(len(p["workers"]) == 6 for p in sm["processes"])
    assert [p["process_num"] for p in sm["processes"]] == [0, 1, 2]
    pids = children(first)
    # Apache's children, never the daemon itself, and what an Apache child reads itself.
    assert daemon_pid not in pids and embedded["pid"] != daemon_pid
    assert embedded["pid"] in pids, (embedded["pid"], pids)
    assert pids <= set(srv.child_pids())
    assert pids == {p["pid"] for p in embedded["sm"]["processes"] if p["pid"]}
    assert sm["running_generation"] == embedded["sm"]["running_generation"]
    assert abs(sm["restart_time"] - embedded["sm"]["restart_time"]) < 1e-3
    served = sum(w["access_count"] for p in sm["processes"] for w in p["workers"])
    for _ in range(20):
        srv.get("/e/sm")
    release = srv.path("release")
    slow = threading.Thread(target=lambda: srv.get("/d/slow?" + release, timeout=60))
    slow.start()
    try:
        def busy(a):
            return [w for p in a["sm"]["processes"] for w in p["workers"] if w["status"] == "W" and w["request"].startswith("GET /d/slow?")]
        seen = poll(srv, "/d/sm", lambda a: busy(a))
        worker = busy(seen)[0]
        # The same worker as Apache's children see it in the scoreboard itself.
        direct = busy(srv.get("/e/sm").json())
        assert [(w["request"], w["client"], w["vhost"], w["start_time"]) for w in direct] == [(worker["request"], worker["client"], worker["vhost"], worker["start_time"])]
        assert worker["start_time"] > 0 and worker["client"] == "127.0.0.1"
        assert sum(w["access_count"] for p in seen["sm"]["processes"] for w in p["workers"]) >= served + 20
    finally:
        open(release, "w").close()
        slow.join()
    # A graceful restart (post_config again, this module reloaded): the new
    # daemon reads the same kind of copy, of the new generation.
    srv.graceful()
    after = poll(srv, "/d/sm", lambda a: a["sm"] is not None and a["sm"]["running_generation"] == srv.get("/e/sm").json()["sm"]["running_generation"])
    assert after["pid"] != daemon_pid and after["sm"]["running_generation"] != sm["running_generation"]
    assert (after["sm"]["server_limit"], after["sm"]["thread_limit"]) == (3, 6)
    srv.stop()
    # server-metrics off (the default): None, with WSGIServerMetrics On for Apache's children.
    off = scoreboard_site(apache, "rwsgi", on="")
    assert off.get("/d/sm").json()["sm"] is None
    assert off.get("/e/sm").json()["sm"] is not None
    off.stop()
    if os.path.exists(harness.MOD_WSGI_PATH):
        ref = scoreboard_site(apache, "wsgi")
        ref_sm = poll(ref, "/d/sm", lambda a: a["sm"] is not None)["sm"]
        ref.stop()
        assert set(sm) == set(ref_sm)
        assert (sm["server_limit"], sm["thread_limit"]) == (ref_sm["server_limit"], ref_sm["thread_limit"])
        assert len(sm["processes"]) == len(ref_sm["processes"])
        assert shape(sm)["processes"] == shape(ref_sm)["processes"]


# The same limits for each MPM (prefork: one thread per child).
FRESH_MPM = {
    "event": SCOREBOARD_MPM,
    "worker": SCOREBOARD_MPM,
    "prefork": "StartServers 2\nMinSpareServers 1\nMaxSpareServers 3\nServerLimit 3\nMaxRequestWorkers 3\n",
}


def in_flight(answer, release):
    return [w for p in answer["sm"]["processes"] for w in p["workers"] if w["status"] == "W" and w["request"] == "GET /d/slow?%s HTTP/1.1" % release]


def seen_within(srv, until, limit):
    """Polls the daemon's view (/d/sm) until `until(answer)`; the seconds it took."""
    start = time.monotonic()
    while True:
        answer = srv.get("/d/sm").json()
        took = time.monotonic() - start
        if until(answer):
            return took
        workers = [(w["status"], w["access_count"], w["request"]) for p in answer["sm"]["processes"] for w in p["workers"] if p["pid"]]
        assert took < limit, "not seen in the daemon's copy of the scoreboard within %.1f s: %r" % (limit, workers)
        time.sleep(0.05)


def check_fresh(srv, tag):
    """Three requests in flight, each seen from a daemon process within about
    two seconds (Apache's children refresh the copy every second; the
    parent's monitor hook alone, every ten seconds, passes this about once
    in 60), and access counts that advance as soon."""
    for k in range(3):
        release = srv.path("release-%s-%d" % (tag, k))
        slow = threading.Thread(target=lambda: srv.get("/d/slow?" + release, timeout=60))
        slow.start()
        try:
            # Apache's children see it at once (the scoreboard itself).
            poll(srv, "/e/sm", lambda a: in_flight(a, release), timeout=10)
            seen_within(srv, lambda a: in_flight(a, release), 2.5)
        finally:
            open(release, "w").close()
            slow.join()
        served = sum(w["access_count"] for p in srv.get("/e/sm").json()["sm"]["processes"] for w in p["workers"])
        for _ in range(10):
            srv.get("/e/sm")
        seen_within(srv, lambda a: sum(w["access_count"] for p in a["sm"]["processes"] for w in p["workers"]) >= served + 10, 2.5)


@pytest.mark.parametrize("mpm", ["event", "worker", "prefork"])
def test_daemon_scoreboard_copy_is_fresh(apache, mpm):
    """server-metrics=On: the daemon's copy of the scoreboard is about a
    second old (one of Apache's children copies it every second), with each
    MPM, before and after a graceful restart; the copying thread keeps no
    child from stopping (the old children exit at once, Apache stops cleanly,
    no crash in the log)."""
    srv = apache(SCOREBOARD_SITE % {"on": "server-metrics=On"}, apps={"sb.wsgi": SCOREBOARD_APP}, module="rwsgi", mpm_config=FRESH_MPM[mpm], mpm=mpm)
    os.chmod(srv.root, 0o1777)
    poll(srv, "/d/sm", lambda a: any(p["pid"] for p in a["sm"]["processes"]), timeout=10)
    check_fresh(srv, "a")
    old = {p["pid"] for p in srv.get("/e/sm").json()["sm"]["processes"] if p["pid"]}
    srv.graceful()
    deadline = time.monotonic() + 10
    while old & set(srv.child_pids()):
        assert time.monotonic() < deadline, "old children still running: %r" % (old & set(srv.child_pids()))
        time.sleep(0.1)
    check_fresh(srv, "b")
    srv.stop()


def test_prefork_children_with_the_copier_recycle_cleanly(apache):
    """Prefork, server-metrics=On, MaxConnectionsPerChild 2: children with the
    copying thread exit as soon as they are done (new pids keep coming, no
    request waits for one), Apache warns of no child that would not stop,
    and the copy follows the new children."""
    mpm = FRESH_MPM["prefork"] + "MaxConnectionsPerChild 2\n"
    srv = apache(SCOREBOARD_SITE % {"on": "server-metrics=On"}, apps={"sb.wsgi": SCOREBOARD_APP}, module="rwsgi", mpm_config=mpm, mpm="prefork")
    before = {p["pid"] for p in poll(srv, "/d/sm", lambda a: any(p["pid"] for p in a["sm"]["processes"]), timeout=10)["sm"]["processes"] if p["pid"]}
    mark = srv.log_mark()
    pids = set()
    for _ in range(16):
        start = time.monotonic()
        pids.add(srv.get("/e/sm").json()["pid"])
        assert time.monotonic() - start < 2.0
    assert len(pids) >= 5, pids
    # Children come and go with every other request (these too): the copy
    # lists children that came after those it listed before.
    seen_within(srv, lambda a: {p["pid"] for p in a["sm"]["processes"] if p["pid"]} - before - {0}, 3.0)
    assert not re.search(r"did not exit|still did not|exit signal", srv.error_log(mark)), srv.error_log(mark)


def test_daemon_scribbling_on_its_copy_stops_it_only_for_a_while(apache):
    """A process of the group that leaves its copy's sequence word odd: its
    server_metrics() is None while the copy looks half-written, then the
    next writer takes the copy over (3 s later, a warning in the error log)
    and it is fresh again; Apache's children and other groups are unharmed."""
    srv = scoreboard_site(apache, "rwsgi")
    poll(srv, "/d/sm", lambda a: any(p["pid"] for p in a["sm"]["processes"]), timeout=10)
    mark = srv.log_mark()
    assert srv.get("/d/scribble").json()["sm"] is None
    assert srv.get("/e/sm").json()["sm"] is not None
    start = time.monotonic()
    poll(srv, "/d/sm", lambda a: a["sm"] is not None, timeout=15)
    assert time.monotonic() - start > 2.0  # not before the takeover delay
    srv.wait_for_log(r"daemon process group 'sm': its copy of Apache's scoreboard had been left half-written for 3 s", since=mark, timeout=5)
    check_fresh(srv, "after")


SIZES_APP = r'''
import json, mod_wsgi
def application(environ, start_response):
    sm = mod_wsgi.server_metrics()
    out = {"limits": [sm["server_limit"], sm["thread_limit"]], "processes": len(sm["processes"]),
           "workers": sorted({len(p["workers"]) for p in sm["processes"]})}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(out).encode()]
'''


def test_daemon_scoreboard_copy_is_bounded(apache):
    """A scoreboard larger than the copy's bounds (16384 worker slots): the
    first slots, Apache's limits as they are, and a start-up warning."""
    mpm = "StartServers 1\nServerLimit 20\nThreadLimit 1024\nThreadsPerChild 2\nMinSpareThreads 1\nMaxSpareThreads 4\nMaxRequestWorkers 4\n"
    srv = apache("WSGIDaemonProcess sm threads=1 server-metrics=On\nWSGIScriptAlias /d {root}/s.wsgi process-group=sm application-group=%{GLOBAL}",
                 apps={"s.wsgi": SIZES_APP}, mpm_config=mpm, mpm="event")
    srv.wait_for_log(r"daemon process group 'sm': server-metrics=On reports the first 16 of ServerLimit 20 processes and 1024 of ThreadLimit 1024 threads each")
    assert srv.get("/d").json() == {"limits": [20, 1024], "processes": 16, "workers": [1024]}


SLOW_APP = """
import time
def application(environ, start_response):
    time.sleep(float(environ.get("QUERY_STRING") or 0))
    start_response("200 OK", [])
    return [b"ok"]
"""


def test_slow_requests_logged(apache):
    """WSGISlowRequests: a request slower than the threshold is logged (with its
    id and URL), a quick one is not; in daemon mode by the daemon process."""
    srv = apache("WSGISlowRequests 0.3\nWSGIScriptAlias /s {root}/s.wsgi", apps={"s.wsgi": SLOW_APP})
    mark = srv.log_mark()
    assert srv.get("/s?0").status == 200
    assert srv.get("/s?0.6").status == 200
    srv.wait_for_log(r"slow request \S+ \(0\.[6-9]\d*s > WSGISlowRequests 0\.300s\): /s\?0\.6", since=mark)
    assert srv.error_log(mark).count("slow request") == 1  # not the quick one
