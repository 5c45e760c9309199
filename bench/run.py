#!/usr/bin/python3
"""Benchmark mod_rwsgi beside Debian's mod_wsgi, its peers and Apache's ceiling.

    /usr/bin/python3 bench/run.py              # full run: 3 interleaved rounds, medians
    /usr/bin/python3 bench/run.py --smoke      # seconds: checks every server and workload works
    /usr/bin/python3 bench/run.py --instructions   # callgrind: instructions per request

Every Apache is Debian's with mpm_event (2 children x 16 threads), the same
Python, logging off. Daemon groups use processes=2 threads=16 and
application group %{GLOBAL} (hello-named-group runs the hello app in a named
application group, a sub-interpreter). Before any timing, each workload's responses are
checked (status, length, echo equality); a wrong answer stops the run.

Servers:
- "ceiling": a 20-line C handler module (bench/ceiling.c, built with apxs at
  bench time) that writes the hello body (and big.wsgi's 1 MiB) from static
  memory: the most any Apache content module can do. Ratios are to it.
- "static": Apache's file handler on a file of the same size.
- mod_rwsgi and Debian's mod_wsgi, embedded and daemon.
- "nginx + uWSGI": Debian's nginx and uwsgi + uwsgi-plugin-python3, uWSGI with
  processes=2 threads=16 (the daemon groups' sizing), one interpreter, the
  applications mounted at the same paths; nginx with 2 workers, logging off,
  request bodies streamed to uWSGI (uwsgi_request_buffering off). Skipped with
  a message when the packages are missing (apt-get install nginx-light uwsgi
  uwsgi-plugin-python3).
- "Granian": Granian from PyPI (installed into a bench virtualenv,
  /var/tmp/rwsgi-bench-venv, on first use), 2 workers x 16 blocking threads,
  the applications under one callable (bench/apps/mount.py). Skipped with a
  message when pip cannot install it.

Workloads: hello, a 1 MiB response, a 1 MiB POST echo, Flask at 32 keep-alive
connections; hello at 256 and 1024 (hello-256c, hello-1024c; socket errors
are reported, not fatal); 20-groups: one Apache with 20 daemon groups (hello
spread over them, RSS per group; daemon servers only); upload-1gib and
download-1gib: one streamed 1 GiB body each way (the application reads
wsgi.input.read(65536) in a loop / yields 64 KiB pieces), throughput and the
peak RSS of the server's processes sampled every 0.1 s.

Requests per second on a shared 2-core VM drift by 10-20% between runs.
--instructions gives a repeatable figure for the embedded servers instead:
Apache runs as one process (-X) under callgrind, serves 200 and then 1200
keep-alive requests one at a time (ab -k -c 1) in two runs, and the
difference of the two totals over 1000 is the user-space instructions one
request costs (start-up cancels out). It does not count the kernel.
"""

import argparse
import atexit
import hashlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
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

APPS = ["hello.wsgi", "big.wsgi", "echo.wsgi", "flask_app.wsgi", "upload.wsgi", "download.wsgi", "mount.py"]
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
    "hello-256c": ("/hello", [], lambda r: r.status == 200 and r.body == HELLO),
    "hello-1024c": ("/hello", [], lambda r: r.status == 200 and r.body == HELLO),
}
# Keep-alive connections per workload (others: --connections); socket errors
# at these are reported, not fatal.
SCALE_CONNECTIONS = {"hello-256c": 256, "hello-1024c": 1024}
# Not wrk runs: each has its own table.
SPECIAL = ["20-groups", "upload-1gib", "download-1gib"]

# A file of the same size as the response, for the static server.
STATIC = {"hello": "/static/hello.txt", "1mib-response": "/static/big.bin", "hello-256c": "/static/hello.txt", "hello-1024c": "/static/hello.txt"}
# What the ceiling module serves (at the applications' paths).
CEILING = {"hello", "1mib-response", "hello-256c", "hello-1024c"}


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
        "WSGIScriptAlias /upload {root}/upload.wsgi",
        "WSGIScriptAlias /download {root}/download.wsgi",
        "Alias /static {root}/static",
        # Apache 2.4.53+ refuses bodies over 1 GiB by default.
        "LimitRequestBody 0",
        NO_HTACCESS,
    ]
    return "\n".join(lines) + "\n"


# As Debian's apache2.conf has it: without it, every request looks for a
# .htaccess in each directory above the script (four openat() per request).
NO_HTACCESS = """\
<Directory />
    AllowOverride None
</Directory>"""

CEILING_CONFIG = NO_HTACCESS + """
LoadModule ceiling_module {so}
<Location /hello>
    SetHandler bench-hello
</Location>
<Location /big>
    SetHandler bench-big
</Location>
"""


def groups_config(module, groups=20):
    """One Apache with `groups` daemon groups (the bench sizing), /gN/hello in group gN."""
    lines = ["WSGIApplicationGroup %{GLOBAL}", NO_HTACCESS]
    for n in range(1, groups + 1):
        lines += [
            "WSGIDaemonProcess g%d processes=2 threads=16 display-name=%%{GROUP}" % n,
            "WSGIScriptAlias /g%d/hello {root}/hello.wsgi process-group=g%d" % (n, n),
        ]
    return "\n".join(lines) + "\n"


# kind: apache (module, daemon), ceiling, uwsgi, granian. daemon: RSS of the
# application processes is reported apart (uWSGI's and Granian's workers too).
SERVERS = {
    "ceiling": dict(kind="ceiling", module="rwsgi", daemon=False),
    "static": dict(kind="apache", module="rwsgi", daemon=False),
    "mod_rwsgi embedded": dict(kind="apache", module="rwsgi", daemon=False),
    "mod_rwsgi daemon": dict(kind="apache", module="rwsgi", daemon=True),
    # A/B: the same two servers from another build (--base DIR).
    "mod_rwsgi embedded (base)": dict(kind="apache", module="rwsgi", daemon=False, base=True),
    "mod_rwsgi daemon (base)": dict(kind="apache", module="rwsgi", daemon=True, base=True),
    "mod_wsgi embedded": dict(kind="apache", module="wsgi", daemon=False),
    "mod_wsgi daemon": dict(kind="apache", module="wsgi", daemon=True),
    "nginx + uWSGI": dict(kind="uwsgi", daemon=True),
    "Granian": dict(kind="granian", daemon=True),
}


def start(name):
    srv = prepare(name)
    srv.start()
    return srv


def prepare(name):
    spec = SERVERS[name]
    if spec["kind"] == "uwsgi":
        return NginxUwsgi()
    if spec["kind"] == "granian":
        return Granian()
    if spec["kind"] == "ceiling":
        return bench_server(spec["module"], CEILING_CONFIG.replace("{so}", ceiling_module()))
    module_path = os.path.join(BASE, "libmod_rwsgi.so") if spec.get("base") else None
    return bench_server(spec["module"], app_config(spec["module"], spec["daemon"]), module_path=module_path)


_ceiling_so = None
BASE = None


def ceiling_module():
    """bench/ceiling.c built with apxs (once per run) into a world-readable directory."""
    global _ceiling_so
    if _ceiling_so is None:
        build = harness.make_world_readable_dir(prefix="rwsgi-ceiling-")
        atexit.register(shutil.rmtree, build, True)
        shutil.copy(os.path.join(HERE, "ceiling.c"), build)
        out = subprocess.run(["apxs", "-c", "ceiling.c"], cwd=build, capture_output=True, text=True)
        so = os.path.join(build, ".libs", "ceiling.so")
        if out.returncode != 0 or not os.path.exists(so):
            raise SystemExit("apxs could not build bench/ceiling.c:\n" + out.stdout + out.stderr)
        for d in (build, os.path.dirname(so)):
            os.chmod(d, 0o755)
        os.chmod(so, 0o755)
        _ceiling_so = so
    return _ceiling_so


def missing_peer(name):
    """Why a peer server cannot run here (None when it can)."""
    kind = SERVERS[name]["kind"]
    if kind == "uwsgi":
        if not shutil.which("nginx") or not shutil.which("uwsgi") or not os.path.exists("/usr/lib/uwsgi/plugins/python3_plugin.so"):
            return "nginx, uwsgi or uwsgi-plugin-python3 is not installed (apt-get install nginx-light uwsgi uwsgi-plugin-python3)"
    if kind == "granian":
        return Granian.install()
    return None


class PeerServer:
    """A non-Apache server with the bench applications in a root of its own;
    speaks the same request helpers as harness.ApacheServer."""

    url = harness.ApacheServer.url
    request = harness.ApacheServer.request
    get = harness.ApacheServer.get
    module = "peer"

    def __init__(self):
        self.root = harness.make_world_readable_dir(prefix="rwsgi-peer-")
        self.port = harness.free_port()
        self.procs = []
        for app in APPS:
            with open(os.path.join(HERE, "apps", app), "rb") as f:
                harness.write_world_readable(self.path(app), f.read(), dedent=False)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def spawn(self, cmd, log):
        with open(self.path(log), "wb") as out:
            self.procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.root))

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise SystemExit("%s exited at start:\n%s" % (type(self).__name__, self.error_log()[-3000:]))
            try:
                if self.get("/hello", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("%s did not start:\n%s" % (type(self).__name__, self.error_log()[-3000:]))

    def error_log(self):
        text = ""
        for name in sorted(os.listdir(self.root)):
            if name.endswith(".log"):
                with open(self.path(name), errors="replace") as f:
                    text += "==> %s\n%s" % (name, f.read())
        return text

    def pids(self):
        """(all processes, application processes): the started ones and their descendants."""
        children = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as f:
                        children.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
                except (OSError, IndexError, ValueError):
                    pass
        found, todo = [], [p.pid for p in self.procs]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found, [p for p in found if self.is_app(p)]

    def stop(self, check_log=False):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        self.procs = []

    def cleanup(self):
        self.stop()
        if os.environ.get("RWSGI_TEST_KEEP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 2;
user www-data;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_max_body_size 0;
    keepalive_requests 100000000;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            include /etc/nginx/uwsgi_params;
            uwsgi_pass unix:{root}/sock/uwsgi.sock;
            uwsgi_request_buffering off;
        }}
    }}
}}
"""


class NginxUwsgi(PeerServer):
    def start(self):
        # uWSGI binds its socket after it dropped to www-data.
        for d in ("tmp", "sock"):
            os.makedirs(self.path(d), mode=0o777, exist_ok=True)
            os.chmod(self.path(d), 0o777)
        harness.write_world_readable(self.path("nginx.conf"), NGINX_CONF.format(root=self.root, port=self.port), dedent=False)
        mounts = []
        for prefix, app in (("/hello", "hello.wsgi"), ("/big", "big.wsgi"), ("/echo", "echo.wsgi"), ("/flask", "flask_app.wsgi"), ("/upload", "upload.wsgi"), ("/download", "download.wsgi")):
            mounts += ["--mount", "%s=%s" % (prefix, self.path(app))]
        self.spawn(
            ["uwsgi", "--plugin", "python3", "--master", "--processes", "2", "--threads", "16", "--single-interpreter",
             "--socket", self.path("sock", "uwsgi.sock"), "--chmod-socket=666", "--listen", "1024", "--uid", "www-data", "--gid", "www-data",
             "--manage-script-name", "--disable-logging", "--die-on-term", "--procname-prefix-spaced", "bench-uwsgi"] + mounts,
            "uwsgi.log",
        )
        deadline = time.monotonic() + 20
        while not os.path.exists(self.path("sock", "uwsgi.sock")):
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                raise SystemExit("uWSGI did not start:\n" + self.error_log()[-3000:])
            time.sleep(0.1)
        self.spawn(["nginx", "-c", self.path("nginx.conf"), "-e", self.path("nginx-error.log")], "nginx.log")
        self.wait_ready()

    def is_app(self, pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return f.read().startswith(b"bench-uwsgi")
        except OSError:
            return False


VENV = "/var/tmp/rwsgi-bench-venv"


class Granian(PeerServer):
    _why_not = ()

    @classmethod
    def install(cls):
        """Granian in the bench virtualenv (with the system's packages, for
        Flask); None when usable, else why not."""
        if cls._why_not == ():
            granian = os.path.join(VENV, "bin", "granian")
            if not os.path.exists(granian):
                print("bench: installing Granian from PyPI into %s" % VENV, flush=True)
                out = subprocess.run(
                    "/usr/bin/python3 -m venv --system-site-packages %s && %s/bin/pip install -q granian" % (VENV, VENV),
                    shell=True, capture_output=True, text=True,
                )
                if out.returncode != 0 or not os.path.exists(granian):
                    cls._why_not = "pip could not install granian into %s: %s" % (VENV, (out.stdout + out.stderr).strip()[-500:])
                    return cls._why_not
            cls._why_not = None
        return cls._why_not

    def start(self):
        self.spawn(
            [os.path.join(VENV, "bin", "granian"), "--interface", "wsgi", "--workers", "2", "--blocking-threads", "16",
             "--http", "1", "--no-ws", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
             "--no-access-log", "--working-dir", self.root, "mount:application"],
            "granian.log",
        )
        self.wait_ready()

    def is_app(self, pid):
        return pid not in (p.pid for p in self.procs)


def bench_server(module, config, mpm_config=MPM, loglevel="warn", extra_modules=(), module_path=None):
    """An Apache (not started) with the bench applications and static files in
    its root; `config` routes them (see app_config)."""
    srv = harness.ApacheServer(
        module=module,
        mode="embedded",
        config=config,
        loglevel=loglevel,
        mpm_config=mpm_config,
        extra_modules=extra_modules,
        module_path=module_path,
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


def wrk(url, extra, seconds, connections, strict=True):
    """(req/s, p99 ms, socket errors). strict: connect/write/timeout errors
    and error responses stop the run; else they are returned with the rest."""
    out = subprocess.run(wrk_command(url, extra, seconds, connections), capture_output=True, text=True, check=True).stdout
    got = wrk_figures(out)
    e = got["errors"]
    if strict and got["non2xx"]:
        raise SystemExit("wrk saw error responses from %s:\n%s" % (url, out))
    # mpm_event closes idle keep-alive connections when all its workers are busy;
    # wrk counts those closes as read errors. They are reported, not fatal.
    if strict and (e["connect"] or e["write"] or e["timeout"]):
        raise SystemExit("wrk saw connection failures on %s:\n%s" % (url, out))
    return got["rps"], got["p99_ms"], sum(e.values()) + got["non2xx"]


def rss_kib(srv, daemon_only=False):
    """Resident memory of the server's processes (or only its daemon processes,
    or a peer's application processes)."""
    if isinstance(srv, PeerServer):
        every, app = srv.pids()
        return sum(pid_rss_kib(pid) for pid in (app if daemon_only else every))
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


def cpu_seconds(srv):
    """User + system CPU time the server's processes have used so far (for a
    peer, all of its processes). Over a timed run, divided by the requests,
    it is what a request costs the server, kernel included: on a shared
    machine steadier than req/s, which other load moves."""
    pids = srv.pids()[0] if isinstance(srv, PeerServer) else srv._our_pids() + daemon_pids(srv)
    ticks = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def pid_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
    except OSError:
        return 0
    return int(m.group(1)) if m else 0


class PeakRss:
    """Samples rss_kib every 0.1 s while it is open; .peak, .peak_app in KiB."""

    def __init__(self, srv):
        self.srv, self.peak, self.peak_app = srv, 0, 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self):
        while not self.done.is_set():
            self.peak = max(self.peak, rss_kib(self.srv))
            self.peak_app = max(self.peak_app, rss_kib(self.srv, daemon_only=True))
            self.done.wait(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


def transfer(srv, workload, mib):
    """One streamed body of `mib` MiB: upload-1gib POSTs it to /upload (read in
    64 KiB reads), download-1gib GETs it from /download. Returns (seconds,
    peak RSS KiB of all processes, of the application processes)."""
    size = mib << 20
    piece = b"u" * (1 << 20)
    buf = bytearray(1 << 20)
    with PeakRss(srv) as peak:
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=120) as s:
            if workload == "upload-1gib":
                s.sendall(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n"
                          b"Connection: close\r\nContent-Length: %d\r\n\r\n" % size)
                for _ in range(mib):
                    s.sendall(piece)
            else:
                s.sendall(b"GET /download?mib=%d HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % mib)
            head, received = b"", 0
            while True:
                n = s.recv_into(buf)
                if not n:
                    break
                if b"\r\n\r\n" not in head:
                    head += bytes(buf[:n])
                    if b"\r\n\r\n" in head:
                        head, rest = head.split(b"\r\n\r\n", 1)
                        head += b"\r\n\r\n"
                        received = len(rest)
                        body = rest
                else:
                    received += n
        seconds = time.monotonic() - start
    status = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"?"
    good = status == b"200" and (body.strip() == str(size).encode() if workload == "upload-1gib" else received == size)
    if not good:
        raise SystemExit("WRONG RESPONSE from %s for %s: %r, %d body bytes\n%s" % (srv.module, workload, head[:200], received, srv.error_log()[-2000:]))
    return seconds, peak.peak, peak.peak_app


def groups_run(name, seconds, connections):
    """20 daemon groups in one Apache: hello spread over them. Returns
    (req/s, p99, daemon RSS KiB per group, socket errors)."""
    srv = bench_server(SERVERS[name]["module"], groups_config(SERVERS[name]["module"]))
    srv.start(timeout=120)
    try:
        for n in (1, 20):
            r = srv.get("/g%d/hello" % n)
            if r.status != 200 or r.body != HELLO:
                raise SystemExit("WRONG RESPONSE from %s for 20-groups: %s\n%s" % (name, r.status, srv.error_log()[-2000:]))
        script = ["-s", os.path.join(HERE, "apps", "groups.lua")]
        wrk(srv.url("/g1/hello"), script, 1, connections, strict=False)
        rps, p99, errors = wrk(srv.url("/g1/hello"), script, seconds, connections, strict=False)
        return rps, p99, rss_kib(srv, daemon_only=True) / 20, errors
    finally:
        srv.stop(check_log=False)
        srv.cleanup()


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
    that serves `requests` keep-alive requests for `path`, one at a time. For a
    daemon server the daemon processes Apache starts are traced too and counted
    with it (child + daemon: what one request costs in both processes)."""
    srv = prepare(name)
    srv.write_config()
    # Writable by the children's user: valgrind writes the files after Apache
    # (and the daemons) switched users.
    outdir = srv.path("callgrind")
    os.makedirs(outdir, exist_ok=True)
    os.chmod(outdir, 0o777)
    out = os.path.join(outdir, "callgrind.out.%p")
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--vgdb=no", "--trace-children=%s" % ("yes" if SERVERS[name]["daemon"] else "no"),
         "--callgrind-out-file=" + out, harness.APACHE_BIN, "-X", "-f", srv.conf_path, "-DFOREGROUND"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=srv._child_env(),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        apache_out = out.replace("%p", str(proc.pid))
        while not srv._can_connect() or not os.path.exists(apache_out):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("Apache under valgrind did not start:\n" + srv.error_log()[-2000:])
            time.sleep(0.2)
        # Created by valgrind as root; Apache writes it again after switching users.
        os.chmod(apache_out, 0o666)
        r = srv.get(path, timeout=120)
        if r.status != 200:
            raise SystemExit("WRONG RESPONSE from %s for %s under valgrind: %s" % (name, path, r.status))
        ab = subprocess.run(["ab", "-q", "-k", "-n", str(requests), "-c", "1", srv.url(path)], capture_output=True, text=True, check=True).stdout
        if "Complete requests:      %d" % requests not in ab or not re.search(r"Failed requests:\s+0\b", ab):
            raise SystemExit("ab failed against %s:\n%s" % (name, ab))
    finally:
        proc.terminate()
        proc.wait(timeout=120)
        # The daemons exit when Apache is gone; their files are written then.
        deadline = time.monotonic() + 60
        while daemon_pids(srv) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
    total = 0
    for f in os.listdir(outdir):
        annotate = subprocess.run(["callgrind_annotate", os.path.join(outdir, f)], capture_output=True, text=True).stdout
        m = re.search(r"([\d,]+) \([ \d.]+%\)\s+PROGRAM TOTALS", annotate)
        total += int(m.group(1).replace(",", "")) if m else 0
    srv.cleanup()
    return total


def instructions(servers, workloads, few=200, many=1200):
    print("| workload | server | instructions per request (user space) |")
    print("|---|---|---|")
    for workload in workloads:
        for name in servers:
            if SERVERS[name]["kind"] not in ("apache", "ceiling"):
                continue  # not an Apache: not measured this way
            if name == "static":
                if workload not in STATIC:
                    continue
                path = STATIC[workload]
            elif name == "ceiling" and workload not in CEILING:
                continue
            elif workload in WORKLOADS:
                path = WORKLOADS[workload][0]
            else:
                continue
            if workload in ("1mib-post-echo",) or workload in SCALE_CONNECTIONS:
                continue  # ab would need a body file / one connection at a time anyway
            per_request = (callgrind_total(name, path, many) - callgrind_total(name, path, few)) / (many - few)
            print("| %s | %s | %.1fk |" % (workload, name, per_request / 1000), flush=True)


def median(values):
    return statistics.median(values) if values else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="one short round: proves every server and workload works")
    ap.add_argument("--instructions", action="store_true", help="instructions per request of the Apache servers, by callgrind (daemon: child + daemon)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--transfer-mib", type=int, default=1024, help="size of upload-1gib and download-1gib (--smoke: 64)")
    ap.add_argument("--servers", default=",".join(n for n in SERVERS if not SERVERS[n].get("base")),
                    help="comma-separated subset of: " + ", ".join(SERVERS) + " (the (base) ones need --base; the default is every other)")
    ap.add_argument("--base", help="a build directory (libmod_rwsgi.so and rwsgi-daemon) for the A/B servers 'mod_rwsgi embedded (base)' and 'mod_rwsgi daemon (base)'")
    ap.add_argument("--workloads", default=",".join(list(WORKLOADS) + SPECIAL), help="comma-separated subset of: " + ", ".join(list(WORKLOADS) + SPECIAL))
    args = ap.parse_args()
    if args.smoke:
        args.rounds, args.seconds = 1, 1
        if "--transfer-mib" not in sys.argv:
            args.transfer_mib = 64
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for name in servers:
        if name not in SERVERS:
            raise SystemExit("unknown server %r" % name)
    for w in workloads:
        if w not in WORKLOADS and w not in SPECIAL:
            raise SystemExit("unknown workload %r" % w)

    global BASE
    if any(SERVERS[n].get("base") for n in servers):
        if not args.base or not os.path.exists(os.path.join(args.base, "libmod_rwsgi.so")):
            raise SystemExit("the (base) servers need --base DIR with libmod_rwsgi.so and rwsgi-daemon")
        BASE = os.path.abspath(args.base)
    print("versions:", versions())
    if args.instructions:
        instructions(servers, workloads)
        return
    for name in list(servers):
        if SERVERS[name]["kind"] in ("uwsgi", "granian"):
            why = missing_peer(name)
            if why:
                print("bench: skipping %s: %s" % (name, why), flush=True)
                servers.remove(name)
    results = {}  # (server, workload) -> [(rps, p99, errors)]
    rss = {}  # (server, workload) -> [kib], after the workload
    daemon_rss = {}
    transfers = {}  # (server, workload) -> [(seconds, peak kib, peak app kib)]
    groups = {}  # server -> [(rps, p99, kib per group, errors)]
    wrk_loads = [w for w in workloads if w in WORKLOADS]
    for round_no in range(1, args.rounds + 1):
        for name in servers:
            kind = SERVERS[name]["kind"]
            srv = start(name)
            try:
                for workload in wrk_loads:
                    connections = SCALE_CONNECTIONS.get(workload, args.connections)
                    if name == "static":
                        if workload not in STATIC:
                            continue
                        path, extra = STATIC[workload], []
                        r = srv.get(path)
                        if r.status != 200 or r.body != (BIG if workload == "1mib-response" else HELLO):
                            raise SystemExit("WRONG static response for %s" % workload)
                    else:
                        if kind == "ceiling" and workload not in CEILING:
                            continue
                        # Application groups are an Apache module's (mod_wsgi's and ours).
                        if workload == "hello-named-group" and kind != "apache":
                            continue
                        path, extra, _ = WORKLOADS[workload]
                        check(srv, workload)
                    url = srv.url(path)
                    strict = workload not in SCALE_CONNECTIONS
                    wrk(url, extra, 1, connections, strict)  # warm-up
                    cpu_before = cpu_seconds(srv)
                    rps, p99, errors = wrk(url, extra, args.seconds, connections, strict)
                    cpu_us = (cpu_seconds(srv) - cpu_before) * 1e6 / max(1.0, rps * max(1, round(args.seconds)))
                    results.setdefault((name, workload), []).append((rps, p99, errors, cpu_us))
                    rss.setdefault((name, workload), []).append(rss_kib(srv))
                    if SERVERS[name]["daemon"]:
                        daemon_rss.setdefault((name, workload), []).append(rss_kib(srv, daemon_only=True))
                    print("round %d  %-20s %-16s %10.0f req/s  p99 %7.2f ms  CPU %6.1f us/req%s" % (round_no, name, workload, rps, p99, cpu_us, "  socket errors %d" % errors if errors else ""), flush=True)
                if kind not in ("ceiling",) and name != "static":
                    for workload in ("upload-1gib", "download-1gib"):
                        if workload in workloads:
                            got = transfer(srv, workload, args.transfer_mib)
                            transfers.setdefault((name, workload), []).append(got)
                            print("round %d  %-20s %-16s %10.0f MiB/s  peak RSS %d MiB (application %d MiB)" % (round_no, name, workload, args.transfer_mib / got[0], got[1] / 1024, got[2] / 1024), flush=True)
            finally:
                srv.stop(check_log=False)
                srv.cleanup()
            if "20-groups" in workloads and kind == "apache" and SERVERS[name]["daemon"]:
                got = groups_run(name, args.seconds, args.connections)
                groups.setdefault(name, []).append(got)
                print("round %d  %-20s %-16s %10.0f req/s  p99 %7.2f ms  RSS per group %.1f MiB" % (round_no, name, "20-groups", got[0], got[1], got[2] / 1024), flush=True)

    def med(table, key, i):
        got = table.get(key)
        return median([g[i] for g in got]) if got else None

    print()
    print("| workload | server | req/s (median) | vs ceiling | p99 ms | p99 vs ceiling | vs mod_wsgi same mode | vs static | socket errors | RSS MiB (daemons) | server CPU us/req | vs ceiling |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for workload in wrk_loads:
        ceiling_rps, ceiling_p99, ceiling_cpu = (med(results, ("ceiling", workload), i) for i in (0, 1, 3))
        static_rps = med(results, ("static", workload), 0)
        for name in servers:
            if (name, workload) not in results:
                continue
            rps, p99, errors, cpu = (med(results, (name, workload), i) for i in range(4))
            peer = name.replace("mod_rwsgi", "mod_wsgi") if name.startswith("mod_rwsgi") else None
            peer_rps = med(results, (peer, workload), 0) if peer else None
            mem = "%.0f" % (median(rss[(name, workload)]) / 1024)
            if (name, workload) in daemon_rss:
                mem += " (%.0f)" % (median(daemon_rss[(name, workload)]) / 1024)
            ratio = lambda a, b: "%.2fx" % (a / b) if a and b else "-"
            print("| %s | %s | %.0f | %s | %.2f | %s | %s | %s | %.0f | %s | %.1f | %s |" % (
                workload, name, rps, ratio(rps, ceiling_rps), p99, ratio(p99, ceiling_p99), ratio(rps, peer_rps), ratio(rps, static_rps), errors, mem, cpu, ratio(cpu, ceiling_cpu)))
    if transfers:
        print()
        print("| transfer (%d MiB) | server | MiB/s (median) | seconds | peak RSS MiB (application processes) |" % args.transfer_mib)
        print("|---|---|---|---|---|")
        for workload in ("upload-1gib", "download-1gib"):
            for name in servers:
                if (name, workload) in transfers:
                    secs = med(transfers, (name, workload), 0)
                    print("| %s | %s | %.0f | %.2f | %.0f (%.0f) |" % (workload, name, args.transfer_mib / secs, secs, med(transfers, (name, workload), 1) / 1024, med(transfers, (name, workload), 2) / 1024))
    if groups:
        print()
        print("| 20 daemon groups x (2 processes x 16 threads), hello | req/s (median) | p99 ms | socket errors | daemon RSS MiB per group |")
        print("|---|---|---|---|---|")
        for name in servers:
            if name in groups:
                print("| %s | %.0f | %.2f | %.0f | %.1f |" % (name, med(groups, name, 0), med(groups, name, 1), med(groups, name, 3), med(groups, name, 2) / 1024))


if __name__ == "__main__":
    main()
