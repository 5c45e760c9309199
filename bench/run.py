#!/usr/bin/python3
"""Benchmark mod_rwsgi beside Debian's mod_wsgi and Apache's static-file ceiling.

    /usr/bin/python3 bench/run.py              # full run: 3 interleaved rounds, medians
    /usr/bin/python3 bench/run.py --smoke      # seconds: checks every server and workload works
    /usr/bin/python3 bench/run.py --instructions   # callgrind: instructions per request, embedded

Every server is Debian's Apache with mpm_event (2 children x 16 threads), the
same Python, logging off. Daemon groups use processes=2 threads=16 and
application group %{GLOBAL} (hello-named-group runs the hello app in a named
application group, a sub-interpreter). Before any timing, each workload's responses are
checked (status, length, echo equality); a wrong answer stops the run.

Requests per second on a shared 2-core VM drift by 10-20% between runs.
--instructions gives a repeatable figure for the embedded servers instead:
Apache runs as one process (-X) under callgrind, serves 200 and then 1200
keep-alive requests one at a time (ab -k -c 1) in two runs, and the
difference of the two totals over 1000 is the user-space instructions one
request costs (start-up cancels out). It does not count the kernel.
"""

import argparse
import hashlib
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import harness  # noqa: E402

MPM = """\
StartServers 2
ServerLimit 2
ThreadsPerChild 16
ThreadLimit 16
MinSpareThreads 1
MaxSpareThreads 32
MaxRequestWorkers 32
MaxKeepAliveRequests 0
"""

APPS = ["hello.wsgi", "big.wsgi", "echo.wsgi", "flask_app.wsgi"]
HELLO = b"Hello, world!\n"
BIG = bytes(range(256)) * 4096
POST_BODY = b"x" * 1048576

# name -> (url path, wrk extra args, check(response))
WORKLOADS = {
    "hello": ("/hello", [], lambda r: r.status == 200 and r.body == HELLO),
    "hello-named-group": ("/hello-named", [], lambda r: r.status == 200 and r.body == HELLO),
    "1mib-response": ("/big", [], lambda r: r.status == 200 and r.body == BIG),
    "1mib-post-echo": ("/echo", ["-s", os.path.join(HERE, "apps", "post.lua")], None),
    "flask": ("/flask/", [], lambda r: r.status == 200 and b'"message":"hello"' in r.body.replace(b" ", b"")),
}

# The static ceiling for a workload: a file of the same size as the response.
STATIC = {"hello": "/static/hello.txt", "1mib-response": "/static/big.bin"}


def app_config(module, daemon):
    lines = []
    if daemon:
        lines += [
            "WSGIDaemonProcess bench processes=2 threads=16 display-name=%{GROUP}",
            "WSGIProcessGroup bench",
        ]
    lines += [
        "WSGIApplicationGroup %{GLOBAL}",
        "WSGIScriptAlias /hello {root}/hello.wsgi",
        # The same app in a named application group: a sub-interpreter.
        "WSGIScriptAlias /hello-named {root}/hello.wsgi application-group=bench-named",
        "WSGIScriptAlias /big {root}/big.wsgi",
        "WSGIScriptAlias /echo {root}/echo.wsgi",
        "WSGIScriptAlias /flask {root}/flask_app.wsgi",
        "Alias /static {root}/static",
    ]
    return "\n".join(lines) + "\n"


SERVERS = {
    "static": dict(module="rwsgi", daemon=False),
    "mod_rwsgi embedded": dict(module="rwsgi", daemon=False),
    "mod_rwsgi daemon": dict(module="rwsgi", daemon=True),
    "mod_wsgi embedded": dict(module="wsgi", daemon=False),
    "mod_wsgi daemon": dict(module="wsgi", daemon=True),
}


def start(name):
    srv = prepare(name)
    srv.start()
    return srv


def prepare(name):
    spec = SERVERS[name]
    return bench_server(spec["module"], app_config(spec["module"], spec["daemon"]))


def bench_server(module, config, mpm_config=MPM, loglevel="warn", extra_modules=()):
    """An Apache (not started) with the bench applications and static files in
    its root; `config` routes them (see app_config)."""
    srv = harness.ApacheServer(
        module=module,
        mode="embedded",
        config=config,
        loglevel=loglevel,
        mpm_config=mpm_config,
        extra_modules=extra_modules,
    )
    # Debian's mod_wsgi can crash while exiting; the benchmark is not about that.
    srv.bad_log_patterns = []
    for app in APPS:
        with open(os.path.join(HERE, "apps", app), "rb") as f:
            harness.write_world_readable(srv.path(app), f.read(), dedent=False)
    os.makedirs(srv.path("static"), mode=0o755, exist_ok=True)
    harness.write_world_readable(srv.path("static", "hello.txt"), HELLO, dedent=False)
    harness.write_world_readable(srv.path("static", "big.bin"), BIG, dedent=False)
    return srv


def check(srv, workload):
    path, _, ok = WORKLOADS[workload]
    for _ in range(3):
        if workload == "1mib-post-echo":
            r = srv.request("POST", path, body=POST_BODY, headers={"Content-Type": "application/octet-stream"})
            good = r.status == 200 and hashlib.sha256(r.body).digest() == hashlib.sha256(POST_BODY).digest()
        else:
            r = srv.get(path)
            good = ok(r)
        if not good:
            raise SystemExit(
                "WRONG RESPONSE from %s for %s: status %s, %d bytes\n%s"
                % (srv.module, workload, r.status, len(r.body), srv.error_log()[-2000:])
            )


def wrk_command(url, extra, seconds, connections, threads=2):
    return ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % max(1, round(seconds)), "--latency"] + extra + [url]


def wrk_figures(out):
    """The figures in wrk's report: requests, rps, p99_ms, non2xx and the
    socket errors (connect, read, write, timeout; zero when none reported)."""
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return dict(
        requests=int(re.search(r"(\d+) requests in", out).group(1)),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p99_ms=float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)] if p99 else float("nan"),
        non2xx=int(non2xx.group(1)) if non2xx else 0,
        errors=dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups()))) if errors else dict(connect=0, read=0, write=0, timeout=0),
    )


def wrk(url, extra, seconds, connections):
    out = subprocess.run(wrk_command(url, extra, seconds, connections), capture_output=True, text=True, check=True).stdout
    got = wrk_figures(out)
    if got["non2xx"]:
        raise SystemExit("wrk saw error responses from %s:\n%s" % (url, out))
    # mpm_event closes idle keep-alive connections when all its workers are busy;
    # wrk counts those closes as read errors. They are reported, not fatal.
    e = got["errors"]
    if e["connect"] or e["write"] or e["timeout"]:
        raise SystemExit("wrk saw connection failures on %s:\n%s" % (url, out))
    return got["rps"], got["p99_ms"]


def rss_kib(srv, daemon_only=False):
    """Resident memory of the server's processes (or only its daemon processes)."""
    total = 0
    for pid in srv._our_pids() + daemon_pids(srv):
        try:
            with open("/proc/%d/status" % pid) as f:
                status = f.read()
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        is_daemon = cmdline.startswith(b"(wsgi:")
        if daemon_only and not is_daemon:
            continue
        m = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(m.group(1)) if m else 0
    return total


def daemon_pids(srv, group=None):
    """Daemon processes are titled (wsgi:GROUP) by display-name=%{GROUP} and are
    children of the Apache parent; all of them, or those of one group."""
    prefix = b"(wsgi:" + (group.encode() + b")" if group else b"")
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                title = f.read()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == srv.pid and title.startswith(prefix):
            pids.append(int(entry))
    return pids


def versions():
    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, shell=True).stdout.strip()
        except OSError:
            return "?"

    return {
        "apache": run("/usr/sbin/apache2 -v | head -1"),
        "python": run("/usr/bin/python3 --version"),
        "mod_wsgi": run("dpkg-query -W -f='${Version}' libapache2-mod-wsgi-py3"),
        "mod_rwsgi": run("cd %s/.. && git describe --always --dirty" % HERE),
        "wrk": run("wrk -v 2>&1 | head -1"),
        "cpus": str(os.cpu_count()),
    }


def callgrind_total(name, path, requests):
    """Instructions callgrind counts for a one-process Apache (start-up included)
    that serves `requests` keep-alive requests for `path`, one at a time."""
    srv = prepare(name)
    srv.write_config()
    out = srv.path("callgrind.out")
    # Created now, writable by the children's user: valgrind opens the file
    # again to write it after Apache has switched users.
    harness.write_world_readable(out, b"", dedent=False)
    os.chmod(out, 0o666)
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, harness.APACHE_BIN, "-X", "-f", srv.conf_path, "-DFOREGROUND"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=srv._child_env(),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not srv._can_connect():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("Apache under valgrind did not start:\n" + srv.error_log()[-2000:])
            time.sleep(0.2)
        r = srv.get(path, timeout=60)
        if r.status != 200:
            raise SystemExit("WRONG RESPONSE from %s for %s under valgrind: %s" % (name, path, r.status))
        ab = subprocess.run(["ab", "-q", "-k", "-n", str(requests), "-c", "1", srv.url(path)], capture_output=True, text=True, check=True).stdout
        if "Complete requests:      %d" % requests not in ab or not re.search(r"Failed requests:\s+0\b", ab):
            raise SystemExit("ab failed against %s:\n%s" % (name, ab))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    annotate = subprocess.run(["callgrind_annotate", out], capture_output=True, text=True, check=True).stdout
    total = re.search(r"([\d,]+) \([ \d.]+%\)\s+PROGRAM TOTALS", annotate)
    srv.cleanup()
    return int(total.group(1).replace(",", ""))


def instructions(servers, workloads, few=200, many=1200):
    print("| workload | server | instructions per request (user space) |")
    print("|---|---|---|")
    for workload in workloads:
        for name in servers:
            if SERVERS[name]["daemon"]:
                continue  # the work happens in other processes
            if name == "static":
                if workload not in STATIC:
                    continue
                path = STATIC[workload]
            else:
                path = WORKLOADS[workload][0]
            if workload == "1mib-post-echo":
                continue  # ab would need a body file; not measured this way
            per_request = (callgrind_total(name, path, many) - callgrind_total(name, path, few)) / (many - few)
            print("| %s | %s | %.1fk |" % (workload, name, per_request / 1000), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="one short round: proves every server and workload works")
    ap.add_argument("--instructions", action="store_true", help="instructions per request of the embedded servers, by callgrind")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset of: " + ", ".join(SERVERS))
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated subset of: " + ", ".join(WORKLOADS))
    args = ap.parse_args()
    if args.smoke:
        args.rounds, args.seconds = 1, 1
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for name in servers:
        if name not in SERVERS:
            raise SystemExit("unknown server %r" % name)

    print("versions:", versions())
    if args.instructions:
        instructions(servers, workloads)
        return
    results = {}  # (server, workload) -> [(rps, p99)]
    rss = {}  # server -> [kib]
    daemon_rss = {}
    for round_no in range(1, args.rounds + 1):
        for name in servers:
            srv = start(name)
            try:
                for workload in workloads:
                    if name == "static":
                        if workload not in STATIC:
                            continue
                        path, extra = STATIC[workload], []
                        r = srv.get(path)
                        if r.status != 200 or r.body != {"hello": HELLO, "1mib-response": BIG}[workload]:
                            raise SystemExit("WRONG static response for %s" % workload)
                    else:
                        path, extra, _ = WORKLOADS[workload]
                        check(srv, workload)
                    url = srv.url(path)
                    wrk(url, extra, 1, args.connections)  # warm-up
                    rps, p99 = wrk(url, extra, args.seconds, args.connections)
                    results.setdefault((name, workload), []).append((rps, p99))
                    print("round %d  %-20s %-16s %10.0f req/s  p99 %7.2f ms" % (round_no, name, workload, rps, p99), flush=True)
                rss.setdefault(name, []).append(rss_kib(srv))
                if SERVERS[name]["daemon"]:
                    daemon_rss.setdefault(name, []).append(rss_kib(srv, daemon_only=True))
            finally:
                srv.stop(check_log=False)
                srv.cleanup()

    print()
    print("| workload | server | req/s (median) | p99 ms | vs mod_wsgi same mode | vs static | RSS MiB (daemons) |")
    print("|---|---|---|---|---|---|---|")
    for workload in workloads:
        static = results.get(("static", workload))
        static_rps = statistics.median(r for r, _ in static) if static else None
        for name in servers:
            got = results.get((name, workload))
            if not got:
                continue
            rps = statistics.median(r for r, _ in got)
            p99 = statistics.median(p for _, p in got)
            peer = name.replace("mod_rwsgi", "mod_wsgi") if name.startswith("mod_rwsgi") else None
            peer_rps = statistics.median(r for r, _ in results[(peer, workload)]) if peer and (peer, workload) in results else None
            mem = "%.0f" % (statistics.median(rss[name]) / 1024) if name in rss else "-"
            if name in daemon_rss:
                mem += " (%.0f)" % (statistics.median(daemon_rss[name]) / 1024)
            print(
                "| %s | %s | %.0f | %.2f | %s | %s | %s |"
                % (
                    workload,
                    name,
                    rps,
                    p99,
                    "%.2fx" % (rps / peer_rps) if peer_rps else "-",
                    "%.2fx" % (rps / static_rps) if static_rps else "-",
                    mem,
                )
            )


if __name__ == "__main__":
    main()
