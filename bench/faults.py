#!/usr/bin/python3
"""mod_rwsgi under load and faults: figures, each with its bound.

    /usr/bin/python3 bench/faults.py           # full run, about 4 minutes
    /usr/bin/python3 bench/faults.py --quick   # scaled down, under a minute (the test command runs it)

Four experiments, each on a fresh Apache (mpm_event; bench/run.py builds the
servers), all traffic on 127.0.0.1:

memory      1,000,000 hello requests (wrk, 16 connections), alternating in
            segments between an embedded route and a daemon group (processes=2
            threads=16). The resident memory of Apache's processes and of the
            daemon processes is sampled after a warm-up and after each segment;
            growth from the warm-up sample to the end must stay under 5 %.
restarts    wrk load while Apache restarts gracefully (SIGUSR1) 10 times, on a
            static file, an embedded route and a daemon group at once (so all
            three see the same restarts); then, on a fresh server, wrk load on
            a group with maximum-requests= small, so its processes recycle
            continuously, beside a static-file load. Two Python clients run
            beside each wrk load and wait for every answer (wrk drops the
            requests still unanswered when it stops). Every answer must be
            2xx, and the socket errors (connections closed unanswered) no more
            than the static file's (with only 2 restarts, --quick, that count
            is chance and is printed, not bounded).
sigkill     a Python load generator (16 keep-alive clients, the app sleeps
            20 ms) on a daemon group while one of its processes is killed
            with SIGKILL, for a group of 2 processes and one of 1 (threads=8).
            Only requests in flight at the kill may fail (at most the
            process's threads, none sent after it), and the group must answer
            again, and a new process must answer, within 1 s.
slowloris   500 clients that send a request head one byte per second and never
            finish it, while wrk sends normal requests to a daemon group; the
            normal requests must all succeed, without timeouts, at no less than
            half the throughput measured without the slow clients. The server
            is configured as a daemon-only site should be (WSGIRestrictEmbedded
            On, Debian's default mod_reqtimeout, enough worker threads for the
            slow connections); the run also records when mod_reqtimeout cuts
            the slow clients off, and (no bound) how the same clients starve
            an Apache with only 32 worker threads.

The script prints each figure as it is measured, then a table of all of them,
and exits with status 1 if any figure is out of its bound (listing which, with
the relevant error-log lines).
"""

import argparse
import collections
import http.client
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run  # noqa: E402  (bench/run.py: servers, wrk, RSS)
from run import harness  # noqa: E402

STATUS_LUA = os.path.join(HERE, "apps", "status.lua")

# Room in the scoreboard for the old generation's children during a graceful
# restart (ServerLimit 8 for 2 active children); otherwise as bench/run.py.
MPM = run.MPM.replace("ServerLimit 2", "ServerLimit 8")

# For the kills: the 16 clients can all land on one child, and mpm_event closes
# a child's kept-alive connections when none of its workers is idle (a client
# that sends on one at that moment sees it closed). The kill, not Apache's
# keep-alive policy, is under test, so each child has workers to spare (and
# as many spare threads are allowed, or the parent would stop a child, closing
# its kept-alive connections, whenever fewer than 16 requests are in flight).
KILL_MPM = (MPM.replace("ThreadsPerChild 16", "ThreadsPerChild 24").replace("ThreadLimit 16", "ThreadLimit 24")
            .replace("MaxRequestWorkers 32", "MaxRequestWorkers 48").replace("MaxSpareThreads 32", "MaxSpareThreads 48"))
assert "MaxSpareThreads 48" in KILL_MPM and "ThreadsPerChild 24" in KILL_MPM

# For the slow clients: enough worker threads to hold them all (event MPM
# reads a request head on a worker thread) and Apache's children without
# Python (WSGIRestrictEmbedded On).
SLOW_MPM = """\
StartServers 10
ServerLimit 12
ThreadsPerChild 64
ThreadLimit 64
MinSpareThreads 64
MaxSpareThreads 768
MaxRequestWorkers 640
MaxKeepAliveRequests 0
"""

# Debian's default mod_reqtimeout settings (mods-available/reqtimeout.conf).
REQTIMEOUT = "RequestReadTimeout header=20-40,MinRate=500 body=10,MinRate=500"

RESULTS = []  # (experiment, figure, value text, bound text, ok)


def figure(experiment, name, value, bound, ok):
    RESULTS.append((experiment, name, value, bound, ok))
    print("  %-60s %-22s %-16s %s" % (name, value, bound, "ok" if ok else "OUT OF BOUND"), flush=True)


def server(config, mpm_config=MPM, extra_modules=()):
    srv = run.bench_server("rwsgi", config, mpm_config=mpm_config, loglevel="notice", extra_modules=extra_modules)
    with open(os.path.join(HERE, "apps", "pid.wsgi"), "rb") as f:
        harness.write_world_readable(srv.path("pid.wsgi"), f.read(), dedent=False)
    srv.start()
    return srv


def groups_config(groups, routes, extra=""):
    """groups: name -> WSGIDaemonProcess options; routes: url -> (script, group or None)."""
    lines = ["WSGIDaemonProcess %s %s display-name=%%{GROUP}" % (g, opts) for g, opts in groups.items()]
    lines.append("WSGIApplicationGroup %{GLOBAL}")
    for url, (script, group) in routes.items():
        lines.append("WSGIScriptAlias %s {root}/%s%s" % (url, script, " process-group=" + group if group else ""))
    lines.append("Alias /static {root}/static")
    return "\n".join(lines) + "\n" + extra


def both_modes_server():
    """/hello embedded, /d/hello in a daemon group (processes=2 threads=16)."""
    return server(groups_config(
        {"bench": "processes=2 threads=16"},
        {"/hello": ("hello.wsgi", None), "/d/hello": ("hello.wsgi", "bench")}))


def wait_for_group(srv, path, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if srv.get(path, timeout=5).status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("%s does not answer 200:\n%s" % (path, srv.error_log()[-3000:]))
        time.sleep(0.1)


# ---- wrk ---------------------------------------------------------------------

class Wrk:
    """wrk with status counting (bench/apps/status.lua), run for `seconds` or
    until stop()."""

    def __init__(self, url, connections=16, seconds=120, threads=2):
        cmd = run.wrk_command(url, ["-s", STATUS_LUA], seconds, connections, threads)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self):
        """wrk prints its report on SIGINT too."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.wait()

    def wait(self, timeout=300):
        out, _ = self.proc.communicate(timeout=timeout)
        got = run.wrk_figures(out)
        got["statuses"] = {int(c): int(n) for c, n in re.findall(r"^STATUS (\d+) (\d+)$", out, re.M)}
        got["bad"] = sum(n for c, n in got["statuses"].items() if not 200 <= c < 300)
        got["socket_errors"] = sum(got["errors"].values())
        got["output"] = out
        return got


def describe(w):
    e = w["errors"]
    return "%d requests, %.0f req/s, p99 %.1f ms, statuses %s, socket errors connect %d read %d write %d timeout %d" % (
        w["requests"], w["rps"], w["p99_ms"], dict(sorted(w["statuses"].items())), e["connect"], e["read"], e["write"], e["timeout"])


def log_excerpt(srv, since, limit=12):
    """The error log's warnings and errors since `since`, counted by message
    (timestamps, pids and client ports stripped)."""
    counts = collections.Counter()
    for line in srv.error_log(since).splitlines():
        if not re.search(r"\[[\w-]*:(warn|error|crit|alert|emerg)\]", line):
            continue
        text = re.sub(r"^\[[^\]]*\] ", "", line)
        text = re.sub(r"\[pid \d+(:tid \d+)?\] ", "", text)
        text = re.sub(r"\[client [\d.:]+\] ", "", text)
        text = re.sub(r"\b(pid|process) \d+", r"\1 N", text)
        counts[text] += 1
    return ["%5d x %s" % (n, t) for t, n in counts.most_common(limit)]


def show_log(srv, since, title):
    lines = log_excerpt(srv, since)
    if lines:
        print("    error log (%s):" % title)
        for line in lines:
            print("    " + line)


# ---- memory ----------------------------------------------------------------------

def memory(args):
    print("\n== memory: %d requests across both modes ==" % args.requests, flush=True)
    srv = both_modes_server()
    try:
        urls = {"embedded": srv.url("/hello"), "daemon": srv.url("/d/hello")}
        wait_for_group(srv, "/d/hello")
        mark = srv.log_mark()

        def sample(label):
            total, daemons = run.rss_kib(srv), run.rss_kib(srv, daemon_only=True)
            series.append((label, total, daemons))
            print("  RSS %-22s all %7d KiB  (Apache %7d, daemons %7d)" % (label, total, total - daemons, daemons), flush=True)

        series = []
        bad = errors = 0
        for mode, url in urls.items():  # warm-up: both modes, all connections
            w = Wrk(url, seconds=args.warmup_seconds).wait()
            bad += w["bad"]
            errors += w["socket_errors"]
        sample("after warm-up")
        done = collections.Counter()
        # wrk runs for a duration: segments alternate between the modes until
        # the count is reached (at most max_segments).
        for i in range(args.max_segments):
            mode = ("embedded", "daemon")[i % 2]
            w = Wrk(urls[mode], seconds=args.segment_seconds).wait()
            done[mode] += w["requests"]
            bad += w["bad"]
            errors += w["socket_errors"]
            print("  segment %2d %-8s %s" % (i + 1, mode, describe(w)), flush=True)
            sample("after %d requests" % sum(done.values()))
            if sum(done.values()) >= args.requests and i % 2:
                break
        total = sum(done.values())
        figure("memory", "requests served (embedded %d, daemon %d)" % (done["embedded"], done["daemon"]), str(total), ">= %d" % args.requests, total >= args.requests)
        figure("memory", "non-2xx answers", str(bad), "0", bad == 0)
        print("  (socket errors: %d)" % errors)
        for index, what in ((1, "all processes"), (2, "daemon processes")):
            first, last = series[0][index], series[-1][index]
            growth = 100.0 * (last - first) / first
            figure("memory", "RSS growth, %s (%d -> %d KiB)" % (what, first, last), "%+.1f %%" % growth, "< 5 %", growth < 5.0)
        show_log(srv, mark, "memory")
    finally:
        srv.stop(check_log=False)
        srv.cleanup()


# ---- restarts --------------------------------------------------------------------

def restarts(args):
    print("\n== restarts: %d graceful restarts under load; maximum-requests recycling ==" % args.restarts, flush=True)
    srv = both_modes_server()
    try:
        wait_for_group(srv, "/d/hello")
        # The three loads run at once, so they see the very same restarts.
        mark = srv.log_mark()
        targets = (("static file", "/static/hello.txt"), ("embedded", "/hello"), ("daemon", "/d/hello"))
        loads = {name: Wrk(srv.url(path), connections=8, threads=1) for name, path in targets}
        # Python clients beside wrk: wrk drops the requests still unanswered
        # when it stops, and leaves connecting out of its latencies; these wait
        # for every answer (up to PROBE_TIMEOUT) and time it from the connect.
        probes = {name: Load(srv.port, path, clients=2, timeout=PROBE_TIMEOUT) for name, path in targets}
        time.sleep(1)
        t_first = time.monotonic()
        restarted = []
        for _ in range(args.restarts):
            t = time.monotonic()
            srv.graceful()
            restarted.append(time.monotonic() - t)
            time.sleep(args.restart_interval)
        graceful = {name: w.stop() for name, w in loads.items()}
        probed = {name: p.stop() for name, p in probes.items()}
        print("  each graceful restart took %.1f-%.1f s (SIGUSR1 to accepting again)" % (min(restarted), max(restarted)))
        for name, w in graceful.items():
            print("  graceful x%d, %-12s wrk: %s" % (args.restarts, name, describe(w)), flush=True)
        failed, closed = {}, {}
        for name, records in probed.items():
            # A kept connection closed with no answer is what wrk counts as a
            # read error (a client retries it); a status or a timeout is an answer gone wrong.
            closed[name] = [r for r in records if r[2] is None and r[3] in ("RemoteDisconnected", "ConnectionResetError", "BrokenPipeError")]
            failed[name] = [r for r in records if r[2] != 200 and r not in closed[name]]
            slowest = max(e - s for s, e, st, pid in records)
            print("  graceful x%d, %-12s 2 Python clients: %d requests, %d connections closed unanswered, %d failed %s, slowest %.0f ms" % (
                args.restarts, name, len(records), len(closed[name]), len(failed[name]),
                dict(collections.Counter(str(r[2] or r[3]) for r in failed[name])), slowest * 1000), flush=True)
            if failed[name]:
                print("    failed requests (sent at, s after the first restart / lasted s / outcome): %s" % ", ".join(
                    "%.2f/%.1f/%s" % (s - t_first, e - s, st or pid) for s, e, st, pid in failed[name][:20]))
        if any(w["bad"] for w in graceful.values()) or any(failed.values()):
            show_log(srv, mark, "graceful")
        errors = {name: w["socket_errors"] + len(closed[name]) for name, w in graceful.items()}
        base = errors["static file"]
        for name in ("embedded", "daemon"):
            w = graceful[name]
            bad = w["bad"] + len(failed[name])
            figure("restarts", "graceful x%d, %s: non-2xx or unanswered (wrk %d, Python clients %d)" % (args.restarts, name, w["bad"], len(failed[name])),
                   str(bad), "0", bad == 0)
            # The counts are Apache closing kept connections mid-restart and
            # vary twofold between runs of the same server: after 2 restarts
            # (--quick) a comparison would be chance, so only the full run
            # holds them to the bound.
            figure("restarts", "graceful x%d, %s: socket errors (wrk %d, Python clients %d)" % (args.restarts, name, w["socket_errors"], len(closed[name])),
                   str(errors[name]), "<= %d (static)" % base if args.full else "(full run only)", errors[name] <= base or not args.full)
    finally:
        srv.stop(check_log=False)
        srv.cleanup()

    srv = server(groups_config(
        {"recycle": "processes=2 threads=16 maximum-requests=%d" % args.max_requests},
        {"/r/hello": ("hello.wsgi", "recycle")}))
    try:
        wait_for_group(srv, "/r/hello")
        mark = srv.log_mark()
        static = Wrk(srv.url("/static/hello.txt"), connections=8, threads=1, seconds=args.recycle_seconds)
        probe = Load(srv.port, "/r/hello", clients=2, timeout=PROBE_TIMEOUT)  # waits for every answer, as above
        static_probe = Load(srv.port, "/static/hello.txt", clients=2, timeout=PROBE_TIMEOUT)
        w = Wrk(srv.url("/r/hello"), connections=8, threads=1, seconds=args.recycle_seconds).wait()
        static = static.wait()
        probed = probe.stop()
        static_closed = [r for r in static_probe.stop() if r[2] != 200]
        static["socket_errors"] += len(static_closed)
        print("  at the same time, static file %s" % describe(static), flush=True)
        # As in the graceful restarts: a kept connection closed with no answer
        # is a socket error (wrk's read error), a status or a timeout a failure.
        probe_closed = [r for r in probed if r[2] is None and r[3] in ("RemoteDisconnected", "ConnectionResetError", "BrokenPipeError")]
        probe_failed = [r for r in probed if r[2] != 200 and r not in probe_closed]
        print("  2 Python clients on the recycling group: %d requests, %d connections closed unanswered, %d failed %s, slowest %.0f ms" % (
            len(probed), len(probe_closed), len(probe_failed), dict(collections.Counter(str(r[2] or r[3]) for r in probe_failed)),
            max(e - s for s, e, st, pid in probed) * 1000), flush=True)
        recycled = len(re.findall(r"group 'recycle' \(pid \d+\) exited", srv.error_log(mark)))
        print("  recycling group (maximum-requests=%d), %d processes recycled: %s" % (args.max_requests, recycled, describe(w)), flush=True)
        figure("restarts", "maximum-requests=%d: processes recycled (%.0f req/s, p99 %.0f ms)" % (args.max_requests, w["rps"], w["p99_ms"]),
               str(recycled), ">= 2", recycled >= 2)
        bad = w["bad"] + len(probe_failed)
        figure("restarts", "maximum-requests=%d: non-2xx or unanswered (wrk %d, Python clients %d)" % (args.max_requests, w["bad"], len(probe_failed)),
               str(bad), "0", bad == 0)
        errors = w["socket_errors"] + len(probe_closed)
        figure("restarts", "maximum-requests=%d: socket errors (wrk %d, Python clients %d)" % (args.max_requests, w["socket_errors"], len(probe_closed)),
               str(errors), "<= %d (static)" % static["socket_errors"] if args.full else "(full run only)", errors <= static["socket_errors"] or not args.full)
        if bad or errors > static["socket_errors"]:
            show_log(srv, mark, "recycling")
    finally:
        srv.stop(check_log=False)
        srv.cleanup()


# ---- sigkill ---------------------------------------------------------------------

# The load generator gives up on a request after this long (the app answers in 20 ms).
CLIENT_TIMEOUT = 2.0
# During graceful restarts the clients wait longer, for whatever answer comes
# (Apache's Timeout, which socket-timeout defaults to, is 30 s).
PROBE_TIMEOUT = 40.0


class Load:
    """Keep-alive clients in threads, each recording (start, end, status, pid)
    for every request; a failed request has status None or not 200."""

    def __init__(self, port, path, clients, timeout=None):
        self.port, self.path = port, path
        self.timeout = timeout or CLIENT_TIMEOUT
        self.stopping = threading.Event()
        self.records = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def client(self):
        conn = None
        mine = []
        while not self.stopping.is_set():
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            start = time.monotonic()
            try:
                conn.request("GET", self.path)
                r = conn.getresponse()
                body = r.read()
                status, pid = r.status, int(body) if r.status == 200 and body.isdigit() else None
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                status, pid = None, type(e).__name__
                conn.close()
                conn = None
            mine.append((start, time.monotonic(), status, pid))
        with self.lock:
            self.records += mine

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(self.timeout + 5)
        return sorted(self.records)


def sigkill(args):
    print("\n== sigkill: a daemon process killed under load (%d times per group) ==" % args.kills, flush=True)
    threads = 8
    srv = server(groups_config(
        {"two": "processes=2 threads=%d" % threads, "one": "processes=1 threads=%d" % threads},
        {"/two": ("pid.wsgi", "two"), "/one": ("pid.wsgi", "one")}), mpm_config=KILL_MPM)
    try:
        for group in ("two", "one"):
            worst = collections.defaultdict(float)
            for k in range(args.kills):
                path = "/%s" % group
                wait_for_group(srv, path)
                mark = srv.log_mark()
                load = Load(srv.port, path + "?ms=20", clients=16)
                time.sleep(args.before_kill)
                victims = run.daemon_pids(srv, group)
                if not victims:
                    raise SystemExit("no daemon process of group %s" % group)
                victim = victims[0]
                t_kill = time.monotonic()
                os.kill(victim, signal.SIGKILL)
                time.sleep(args.after_kill)
                records = load.stop()
                before = {pid for s, e, st, pid in records if e < t_kill and st == 200}
                # A failure that ended before the kill is not the kill's doing
                # (mpm_event closes kept connections of a child whose workers
                # are all busy); it is reported apart.
                failed_before = [r for r in records if r[2] != 200 and r[1] < t_kill]
                failed = [r for r in records if r[2] != 200 and r[1] >= t_kill]
                in_flight = [r for r in records if r[0] < t_kill < r[1]]
                failed_after = [r for r in failed if r[0] > t_kill]
                # The group answers again: the first success sent after the kill
                # (group of 1: necessarily from a new process).
                answered = [e for s, e, st, pid in records if st == 200 and s > t_kill]
                again = (min(answered) - t_kill) if answered else float("inf")
                # The longest pause in successful answers from the kill on.
                ends = [t_kill] + sorted(e for s, e, st, pid in records if st == 200 and e > t_kill)
                pause = max(b - a for a, b in zip(ends, ends[1:])) if len(ends) > 1 else float("inf")
                new = [e for s, e, st, pid in records if st == 200 and e > t_kill and pid not in before]
                replaced = (min(new) - t_kill) if new else float("inf")
                print("  group %s (processes=%s threads=%d), kill %d: %d requests, %d failed before the kill, %d in flight at the kill, %d failed from then on (%s), "
                      "%d failed that were sent after it; answers again after %.0f ms, longest pause %.0f ms, new process answers after %.0f ms"
                      % (group, 2 if group == "two" else 1, threads, k + 1, len(records), len(failed_before), len(in_flight), len(failed),
                         dict(collections.Counter(str(r[2] or r[3]) for r in failed)), len(failed_after),
                         again * 1000, pause * 1000, replaced * 1000), flush=True)
                if failed_after or len(failed) > threads or replaced >= 1.0:
                    print("    failed requests (sent at, lasted, outcome; ms from the kill): %s" % ", ".join(
                        "%+.0f/%.0f/%s" % ((s - t_kill) * 1000, (e - s) * 1000, st or pid) for s, e, st, pid in failed))
                    show_log(srv, mark, "kill")
                worst["failed"] = max(worst["failed"], len(failed))
                worst["failed_after"] = max(worst["failed_after"], len(failed_after))
                worst["again"] = max(worst["again"], again)
                worst["pause"] = max(worst["pause"], pause)
                worst["replaced"] = max(worst["replaced"], replaced)
            label = "group of %d (threads=%d), worst of %d kills" % (2 if group == "two" else 1, threads, args.kills)
            figure("sigkill", label + ": failed requests (ending after the kill)", "%d" % worst["failed"], "<= %d (threads)" % threads, worst["failed"] <= threads)
            figure("sigkill", label + ": failed, sent after the kill", "%d" % worst["failed_after"], "0", worst["failed_after"] == 0)
            figure("sigkill", label + ": group answers again", "%.0f ms" % (worst["again"] * 1000), "< 1000 ms", worst["again"] < 1.0)
            figure("sigkill", label + ": longest pause in answers", "%.0f ms" % (worst["pause"] * 1000), "< 1000 ms", worst["pause"] < 1.0)
            figure("sigkill", label + ": a new process answers", "%.0f ms" % (worst["replaced"] * 1000), "< 1000 ms", worst["replaced"] < 1.0)
    finally:
        srv.stop(check_log=False)
        srv.cleanup()


# ---- slowloris -------------------------------------------------------------------

class SlowClients:
    """Connections that send a request head one byte per `interval` seconds
    and never end it; records when (and with what) the server closes each."""

    def __init__(self, port, path, count, interval=1.0):
        head = b"GET %s HTTP/1.1\r\nHost: localhost\r\n" % path.encode()
        self.stream = head + b"".join(b"X-Slow-%d: x\r\n" % i for i in range(1000))
        self.sel = selectors.DefaultSelector()
        self.socks = []
        self.started = time.monotonic()
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setblocking(False)
            self.socks.append(s)
            self.sel.register(s, selectors.EVENT_READ)
        self.sent = {s: 0 for s in self.socks}
        self.closed = {}  # sock -> (seconds after start, first bytes received)
        self.interval = interval
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        next_send = time.monotonic()
        while not self.stopping.is_set() and len(self.closed) < len(self.socks):
            if time.monotonic() >= next_send:
                for s in self.socks:
                    if s in self.closed:
                        continue
                    try:
                        s.send(self.stream[self.sent[s]:self.sent[s] + 1])
                        self.sent[s] += 1
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        self.close(s, b"(send failed)")
                next_send += self.interval
            for key, _ in self.sel.select(timeout=max(0.0, min(0.2, next_send - time.monotonic()))):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b"(reset)"
                self.close(s, data or b"(closed)")

    def close(self, s, data):
        if s not in self.closed:
            self.closed[s] = (time.monotonic() - self.started, data.split(b"\r\n", 1)[0])
            self.sel.unregister(s)
            s.close()

    def open_count(self):
        return len(self.socks) - len(self.closed)

    def wait_all_closed(self, timeout):
        deadline = time.monotonic() + timeout
        while self.open_count() and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self):
        self.stopping.set()
        self.thread.join(10)
        for s in self.socks:
            if s not in self.closed:
                s.close()


def daemon_connections(srv, group):
    """Sockets held by the group's daemon processes (listening socket included)."""
    n = 0
    for pid in run.daemon_pids(srv, group):
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                    n += 1
        except OSError:
            pass
    return n


def daemon_site_server(mpm_config):
    """A daemon-only site (/d/hello in group site) with Debian's mod_reqtimeout."""
    return server(
        groups_config({"site": "processes=2 threads=16"}, {"/d/hello": ("hello.wsgi", "site")},
                      extra="WSGIRestrictEmbedded On\n" + REQTIMEOUT + "\n"),
        mpm_config=mpm_config, extra_modules=[("reqtimeout_module", "mod_reqtimeout.so")])


def slowloris(args):
    print("\n== slowloris: %d slow clients beside normal requests to a daemon group ==" % args.slow_clients, flush=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    srv = daemon_site_server(SLOW_MPM)
    try:
        wait_for_group(srv, "/d/hello")
        url = srv.url("/d/hello")
        Wrk(url, seconds=1).wait()  # warm-up
        base = Wrk(url, seconds=args.slow_seconds).wait()
        print("  without slow clients: %s" % describe(base), flush=True)
        idle_sockets = daemon_connections(srv, "site")
        mark = srv.log_mark()
        slow = SlowClients(srv.port, "/d/hello", args.slow_clients)
        time.sleep(2)
        connected = slow.open_count()
        w = Wrk(url, seconds=args.slow_seconds).wait()
        still = slow.open_count()
        busy_sockets = daemon_connections(srv, "site")
        print("  with %d slow clients connected (%d at the end): %s" % (connected, still, describe(w)), flush=True)
        print("  sockets held by the daemon group: %d without slow clients, %d with them" % (idle_sockets, busy_sockets))
        figure("slowloris", "slow clients connected during the run", "%d/%d" % (min(connected, still), args.slow_clients),
               "= %d" % args.slow_clients, min(connected, still) == args.slow_clients)
        figure("slowloris", "normal requests: non-2xx answers", str(w["bad"]), "0", w["bad"] == 0)
        figure("slowloris", "normal requests: socket errors", str(w["socket_errors"]), "0", w["socket_errors"] == 0)
        ratio = w["rps"] / base["rps"]
        figure("slowloris", "normal requests: req/s (%.0f vs %.0f without), p99 %.1f ms" % (w["rps"], base["rps"], w["p99_ms"]),
               "%.2fx" % ratio, ">= 0.50x", ratio >= 0.5)
        if args.reqtimeout_wait:
            slow.wait_all_closed(args.reqtimeout_wait)
            times = sorted(t for t, _ in slow.closed.values())
            answers = collections.Counter(d.decode("latin-1") for _, d in slow.closed.values())
            if times:
                print("  mod_reqtimeout: %d of %d slow clients cut off after %.1f-%.1f s; first line received: %s"
                      % (len(times), args.slow_clients, times[0], times[-1], dict(answers)), flush=True)
            figure("slowloris", "slow clients cut off by mod_reqtimeout (header=20-40)",
                   "%d/%d" % (len(times), args.slow_clients), "= %d" % args.slow_clients, len(times) == args.slow_clients)
        slow.stop()
        show_log(srv, mark, "slowloris")
    finally:
        srv.stop(check_log=False)
        srv.cleanup()
    if args.full:
        slowloris_small_apache(args)


def slowloris_small_apache(args):
    """For contrast, no bound: the same slow clients against an Apache with
    only 32 worker threads (bench/run.py's sizing). The head is read on a
    worker thread, so they starve Apache itself before any request could
    reach a daemon."""
    srv = daemon_site_server(MPM)
    try:
        wait_for_group(srv, "/d/hello")
        slow = SlowClients(srv.port, "/d/hello", args.slow_clients)
        time.sleep(2)
        w = Wrk(srv.url("/d/hello"), seconds=args.slow_seconds).wait()
        print("  contrast, MaxRequestWorkers 32, %d slow clients: %s" % (args.slow_clients, describe(w)), flush=True)
        figure("slowloris", "contrast, MaxRequestWorkers 32: normal requests answered in %d s" % args.slow_seconds,
               str(w["requests"]), "(no bound)", True)
        slow.stop()
    finally:
        srv.stop(check_log=False)
        srv.cleanup()


# ---- main --------------------------------------------------------------------------

EXPERIMENTS = {"memory": memory, "restarts": restarts, "sigkill": sigkill, "slowloris": slowloris}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="scaled down (20k requests, 2 restarts, 50 slow clients): proves the script works")
    ap.add_argument("--only", default=",".join(EXPERIMENTS), help="comma-separated subset of: " + ", ".join(EXPERIMENTS))
    args = ap.parse_args()
    full = args.full = not args.quick
    args.requests = 1000000 if full else 20000
    args.warmup_seconds = 5 if full else 1
    args.segment_seconds = 5 if full else 1
    args.max_segments = 60 if full else 12
    args.restarts = 10 if full else 2
    args.restart_interval = 1.0 if full else 0.3
    args.max_requests = 1000 if full else 200
    args.recycle_seconds = 15 if full else 2
    args.kills = 3 if full else 1
    args.before_kill = 1.5 if full else 0.5
    args.after_kill = 2.5 if full else 1.0
    args.slow_clients = 500 if full else 50
    args.slow_seconds = 10 if full else 2
    args.reqtimeout_wait = 45 if full else 0
    chosen = [e.strip() for e in args.only.split(",") if e.strip()]
    for name in chosen:
        if name not in EXPERIMENTS:
            raise SystemExit("unknown experiment %r" % name)

    # A SIGTERM (a timeout) still stops the servers: the finally blocks run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    print("versions:", run.versions())
    started = time.monotonic()
    for name in chosen:
        EXPERIMENTS[name](args)
    print("\n(%.0f s)\n" % (time.monotonic() - started))
    print("| experiment | figure | value | bound | |")
    print("|---|---|---|---|---|")
    for experiment, name, value, bound, ok in RESULTS:
        print("| %s | %s | %s | %s | %s |" % (experiment, name, value, bound, "ok" if ok else "**out of bound**"))
    out = [r for r in RESULTS if not r[4]]
    if out:
        print("\nOUT OF BOUND:", file=sys.stderr)
        for experiment, name, value, bound, _ in out:
            print("  %s: %s = %s (bound %s)" % (experiment, name, value, bound), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
