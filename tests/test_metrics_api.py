"""mod_wsgi's events and metrics API (subscribe_events, event_callbacks,
request_data, active_requests, process_metrics, request_metrics,
server_metrics), checked from a test app in both modes, and compared with
Debian's mod_wsgi 4.9.4 for the same requests where it is installed."""

import json
import os

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
    daemon = harness.default_mode() == "daemon"
    # Daemon mode: the group's server-metrics=On; embedded: WSGIServerMetrics On.
    extra = ("WSGIDaemonProcess sm processes=2 threads=3 server-metrics=On\n<Location /a>\nWSGIProcessGroup sm\n</Location>"
             if daemon else "WSGIServerMetrics On")
    first, _ = run_site(apache, "rwsgi", extra)
    sm = first["server_metrics"]
    assert sm is not None and sm["processes"]
    assert {"server_limit", "thread_limit", "running_generation", "restart_time", "current_time", "running_time"} <= set(sm)
    me = [p for p in sm["processes"] if p["pid"] == first["process_metrics"]["pid"]]
    assert me, sm["processes"]
    assert any(w["status"] == "W" for w in me[0]["workers"])  # this request's thread
    if daemon:
        assert len(sm["processes"]) == 2 and len(me[0]["workers"]) == 3
    if os.path.exists(harness.MOD_WSGI_PATH):
        ref_first, _ = run_site(apache, "wsgi", extra)
        assert shape(first["server_metrics"])["processes"][0]["workers"] == shape(ref_first["server_metrics"])["processes"][0]["workers"]
        assert set(sm) == set(ref_first["server_metrics"])


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
