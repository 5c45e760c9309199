"""The Prometheus endpoint (SetHandler rwsgi-metrics): embedded mode, every
daemon group and every process; parsed by the official prometheus_client
parser (in a test virtualenv) and checked by promtool; counters move with
requests, restarts (maximum-requests, a graceful signal, a crash) and timeouts."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import harness

pytestmark = pytest.mark.both_modes  # the page is the same in both; daemon mode reruns it

VENV = os.environ.get("RWSGI_PROM_VENV") or "/tmp/rwsgi-prometheus-venv"

PARSE = r"""
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    out[fam.name] = {"type": fam.type, "samples": [[s.name, s.labels, s.value] for s in fam.samples]}
print(json.dumps(out))
"""

APP = """
import os, time
def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/sleep":
        time.sleep(float(environ.get("QUERY_STRING") or 3))
    if path == "/crash":
        os._exit(3)
    if path == "/missing":
        start_response("404 Not Found", [])
        return [b"no"]
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello " + body]
"""

CONFIG = """
WSGIScriptAlias /e {root}/app.wsgi
WSGIDaemonProcess g processes=2 threads=2 maximum-requests=4 request-timeout=1 graceful-timeout=1
WSGIScriptAlias /d {root}/app.wsgi process-group=g application-group=%{GLOBAL}
WSGIDaemonProcess t processes=1 threads=1 request-timeout=1 graceful-timeout=1
WSGIScriptAlias /t {root}/app.wsgi process-group=t application-group=%{GLOBAL}
<Location /metrics>
    SetHandler rwsgi-metrics
    Require all granted
</Location>
<Location /denied>
    SetHandler rwsgi-metrics
    Require all denied
</Location>
"""


@pytest.fixture(scope="module")
def parser():
    python = os.path.join(harness.pip_venv(VENV, ["prometheus_client"], ["prometheus_client"]), "bin", "python")

    def parse(text):
        import json

        done = subprocess.run([python, "-c", PARSE], input=text, capture_output=True, text=True, check=True)
        return json.loads(done.stdout)

    return parse


def value(families, family, sample, **labels):
    for name, lab, v in families[family]["samples"]:
        if name == sample and all(lab.get(k) == str(x) for k, x in labels.items()):
            return v
    raise KeyError((family, sample, labels))


def scrape(srv, parser):
    r = srv.get("/metrics")
    assert r.status == 200 and r.header("Content-Type").startswith("text/plain; version=0.0.4")
    if shutil.which("promtool"):
        check = subprocess.run(["promtool", "check", "metrics"], input=r.text, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    else:
        pytest.fail("promtool is missing (Debian's prometheus package: scripts/setup.sh installs it)")
    return r.text, parser(r.text)


def test_endpoint_counts(apache, parser):
    srv = apache(CONFIG, apps={"app.wsgi": APP})
    assert srv.get("/denied").status == 403  # Apache's own Require guards it
    text, fams = scrape(srv, parser)
    assert fams["rwsgi_requests"]["type"] == "counter"
    assert fams["rwsgi_application_seconds"]["type"] == "histogram"
    assert fams["rwsgi_queue_wait_seconds"]["type"] == "histogram"
    # In daemon mode the harness routes the whole server (/e too) to its group.
    egroup = "testdaemon" if harness.default_mode() == "daemon" else ""
    base_e = value(fams, "rwsgi_requests", "rwsgi_requests_total", group=egroup, status_class="2xx")
    base_d = value(fams, "rwsgi_requests", "rwsgi_requests_total", group="g", status_class="2xx")

    for _ in range(3):
        assert srv.request("POST", "/e", body=b"abc").status == 200
        assert srv.request("POST", "/d", body=b"abc").status == 200
    assert srv.get("/d/missing").status == 404
    text, fams = scrape(srv, parser)
    assert value(fams, "rwsgi_requests", "rwsgi_requests_total", group=egroup, status_class="2xx") >= base_e + 3
    assert value(fams, "rwsgi_requests", "rwsgi_requests_total", group="g", status_class="2xx") == base_d + 3
    assert value(fams, "rwsgi_requests", "rwsgi_requests_total", group="g", status_class="4xx") == 1
    assert value(fams, "rwsgi_received_bytes", "rwsgi_received_bytes_total", group="g") >= 9
    assert value(fams, "rwsgi_application_seconds", "rwsgi_application_seconds_count", group="g") >= 4
    assert value(fams, "rwsgi_queue_wait_seconds", "rwsgi_queue_wait_seconds_count", group="g") >= 4
    opened = value(fams, "rwsgi_daemon_connections", "rwsgi_daemon_connections_total", group="g", kind="opened")
    reused = value(fams, "rwsgi_daemon_connections", "rwsgi_daemon_connections_total", group="g", kind="reused")
    assert opened >= 1 and opened + reused >= 4
    # Every daemon process has its own series.
    for p in ("0", "1"):
        value(fams, "rwsgi_process_resident_memory_bytes", "rwsgi_process_resident_memory_bytes", group="g", process=p)
        assert value(fams, "rwsgi_threads", "rwsgi_threads", group="g", process=p, state="busy") + \
            value(fams, "rwsgi_threads", "rwsgi_threads", group="g", process=p, state="idle") == 2

    # maximum-requests=4: more requests recycle the processes.
    for _ in range(6):
        srv.get("/d")
    # A request running past request-timeout=1: a 504 and a restart for that
    # reason (in a group of its own: in g, maximum-requests could end the same
    # process first).
    assert srv.get("/t/sleep", timeout=20).status == 504
    # A crash.
    srv.get("/d/crash")
    # Each restart is counted when its process has exited (after up to
    # graceful-timeout for the request-timeout one).
    deadline = time.monotonic() + 15
    while True:
        text, fams = scrape(srv, parser)
        restarts = {lab["reason"]: v for name, lab, v in fams["rwsgi_process_restarts"]["samples"] if lab["group"] == "g"}
        timeouts = value(fams, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="t", reason="request_timeout")
        if (all(restarts[k] >= 1 for k in ("maximum_requests", "crash")) and timeouts >= 1) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert restarts["maximum_requests"] >= 1, restarts
    assert timeouts >= 1, text
    assert restarts["crash"] >= 1, restarts
    assert value(fams, "rwsgi_requests", "rwsgi_requests_total", group="g", status_class="5xx") >= 1
    assert value(fams, "rwsgi_requests", "rwsgi_requests_total", group="t", status_class="5xx") >= 1

    # A graceful signal to one daemon process (SIGUSR1).
    deadline = time.monotonic() + 10
    while True:  # the slot's process may be between two lives (just recycled)
        _, fams = scrape(srv, parser)
        try:
            os.kill(int(value(fams, "rwsgi_process_pid", "rwsgi_process_pid", group="g", process="0")), signal.SIGUSR1)
            break
        except ProcessLookupError:
            assert time.monotonic() < deadline
            time.sleep(0.3)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, fams = scrape(srv, parser)
        if value(fams, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="g", reason="graceful_signal") >= 1:
            break
        time.sleep(0.3)
    assert value(fams, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="g", reason="graceful_signal") >= 1
    # In flight: the scrape is not a WSGI request; embedded has none running now.
    assert value(fams, "rwsgi_requests_in_flight", "rwsgi_requests_in_flight", group="g", process="0") == 0


def test_counters_survive_apache_restarts(apache, parser):
    """A graceful restart of Apache (the module reloads, post_config runs
    again) keeps the counters: they only go up, and the daemons it replaced
    are counted as replaced by Apache's restart (graceful_restart), not as
    stopped by Apache (shutdown_signal): the parent tells their slots it is
    restarting before it signals them."""
    srv = apache(CONFIG, apps={"app.wsgi": APP})
    for _ in range(3):
        assert srv.get("/d").status == 200
    _, before = scrape(srv, parser)
    served = value(before, "rwsgi_requests", "rwsgi_requests_total", group="g", status_class="2xx")
    stopped = value(before, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="g", reason="shutdown_signal")
    replaced = value(before, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="g", reason="graceful_restart")
    srv.graceful()
    deadline = time.monotonic() + 15
    while True:
        r = srv.get("/d")
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert r.status == 200
    time.sleep(1.0)
    _, after = scrape(srv, parser)
    assert value(after, "rwsgi_requests", "rwsgi_requests_total", group="g", status_class="2xx") >= served + 1
    assert value(after, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="g", reason="graceful_restart") == replaced + 2
    assert value(after, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="g", reason="shutdown_signal") == stopped
    assert value(after, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="g", reason="crash") == 0
    # The new generation's processes are not told Apache restarts: a signal is a shutdown_signal again.
    pid = int(value(after, "rwsgi_process_pid", "rwsgi_process_pid", group="g", process="1"))
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, after = scrape(srv, parser)
        if value(after, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="g", reason="shutdown_signal") > stopped:
            break
        time.sleep(0.3)
    assert value(after, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="g", reason="shutdown_signal") == stopped + 1
    assert value(after, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="g", reason="graceful_restart") == replaced + 2


DEADLOCK_APP = """
import ctypes, os
def application(environ, start_response):
    if environ.get("PATH_INFO") == "/holdgil":
        # A PyDLL call keeps the GIL: the daemon's heartbeat stops.
        ctypes.PyDLL(None).sleep(8)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"""

DEADLOCK_CONFIG = """
WSGIDaemonProcess dl processes=1 threads=2 deadlock-timeout=2
WSGIScriptAlias /dl {root}/app.wsgi process-group=dl application-group=%{GLOBAL}
<Location /metrics>
    SetHandler rwsgi-metrics
    Require all granted
</Location>
"""


def test_deadlock_timeout_is_its_own_reason(apache, parser):
    """A daemon whose GIL is held past deadlock-timeout exits at once with a
    non-zero status; it counts that as deadlock_timeout in its slot before it
    exits, and the parent does not count it again as a crash."""
    srv = apache(DEADLOCK_CONFIG, apps={"app.wsgi": DEADLOCK_APP})
    r = srv.get("/dl")
    assert r.status == 200
    before = int(r.text)
    _, fams = scrape(srv, parser)
    assert value(fams, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="dl", reason="deadlock_timeout") == 0
    mark = srv.log_mark()
    assert srv.get("/dl/holdgil", timeout=20).status >= 500
    srv.wait_for_log(r"pid=%d, group='dl'\): Python's GIL has been held for longer than deadlock-timeout" % before, since=mark)
    deadline = time.monotonic() + 15
    while True:
        r = srv.get("/dl")
        if (r.status == 200 and int(r.text) != before) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert r.status == 200 and int(r.text) != before
    _, fams = scrape(srv, parser)
    assert value(fams, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="dl", reason="deadlock_timeout") == 1
    assert value(fams, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="dl", reason="crash") == 0


LIMITS_APP = r"""
import os, time
def application(environ, start_response):
    if environ.get("QUERY_STRING") == "spin":
        end = time.process_time() + 1.5
        while time.process_time() < end:
            pass
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"""

LIMITS_CONFIG = """
WSGIDaemonProcess interval processes=1 threads=1 restart-interval=1
WSGIDaemonProcess idle processes=1 threads=1 inactivity-timeout=1
WSGIDaemonProcess cpu processes=1 threads=1 cpu-time-limit=1 graceful-timeout=10
WSGIScriptAlias /interval {root}/limits.wsgi process-group=interval application-group=%{GLOBAL}
WSGIScriptAlias /idle {root}/limits.wsgi process-group=idle application-group=%{GLOBAL}
WSGIScriptAlias /cpu {root}/limits.wsgi process-group=cpu application-group=%{GLOBAL}
<Location /metrics>
    SetHandler rwsgi-metrics
    Require all granted
</Location>
"""


def wait_for_restarts(srv, parser, wanted, timeout=20):
    """Scrapes until every group in `wanted` has counted at least one restart
    under its reason ({group: reason}); returns those metric families."""
    deadline = time.monotonic() + timeout
    while True:
        _, fams = scrape(srv, parser)
        if all(value(fams, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group=g, reason=r) >= 1
               for g, r in wanted.items()):
            return fams
        assert time.monotonic() < deadline, scrape(srv, parser)[0]
        time.sleep(0.3)


def test_restarts_by_interval_inactivity_and_cpu_limit_are_counted(apache, parser):
    """restart-interval, inactivity-timeout and cpu-time-limit each restart a
    process, and each is counted under its own reason."""
    srv = apache(LIMITS_CONFIG, apps={"limits.wsgi": LIMITS_APP}, mode="embedded")
    for path in ("/interval", "/idle", "/cpu"):
        assert srv.get(path).status == 200
    assert srv.get("/cpu?spin", timeout=30).status == 200
    wanted = {"interval": "restart_interval", "idle": "inactivity_timeout", "cpu": "cpu_time_limit"}

    fams = wait_for_restarts(srv, parser, wanted)
    for g in wanted:
        assert value(fams, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group=g, reason="crash") == 0


MEMORY_APP = r"""
import os
held = []
def application(environ, start_response):
    query = environ.get("QUERY_STRING")
    if query == "fill":
        # Hold memory until the limit refuses more, then give one piece back
        # so that the response can be made.
        try:
            while True:
                held.append(bytearray(4 << 20))
        except MemoryError:
            held.pop()
    elif query == "huge":
        # One allocation the limit refuses: a MemoryError, nothing held.
        try:
            bytearray(1 << 40)
        except MemoryError:
            pass
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"""

MEMORY_CONFIG = """
WSGIDaemonProcess mem processes=1 threads=1 memory-limit=400000000 graceful-timeout=5
WSGIScriptAlias /mem {root}/mem.wsgi process-group=mem application-group=%{GLOBAL}
<Location /metrics>
    SetHandler rwsgi-metrics
    Require all granted
</Location>
"""


def test_memory_limit_restarts_a_process_that_fills_it_and_is_counted(apache, parser):
    """memory-limit=: one allocation the limit refuses is the application's
    MemoryError and nothing more; a process that holds 95% of its limit
    restarts gracefully, counted as memory_limit."""
    srv = apache(MEMORY_CONFIG, apps={"mem.wsgi": MEMORY_APP}, mode="embedded")
    first = srv.get("/mem").body
    assert srv.get("/mem?huge").body == first
    time.sleep(1.5)  # the supervisor looks once a second
    assert srv.get("/mem").body == first
    r = srv.get("/mem?fill", timeout=60)
    assert r.status == 200 and r.body == first
    srv.wait_for_log(r"the process holds \d+ MiB, 95% or more of its memory-limit of 381 MiB; restarting it")

    fams = wait_for_restarts(srv, parser, {"mem": "memory_limit"})
    assert srv.get("/mem").body != first
    assert value(fams, "rwsgi_process_restarts", "rwsgi_process_restarts_total", group="mem", reason="crash") == 0
    srv.check_log()
