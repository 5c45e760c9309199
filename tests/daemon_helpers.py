"""Shared by the daemon-mode tests (tests/test_daemon_*.py): the application
every group runs, helpers, and the two shared servers as module-scoped
fixtures (conftest.py loads this module as a plugin, so main_srv, sup_srv and
venv_dir are fixtures everywhere; each test module that uses one gets its own
server).

Servers are shared per topic where the test allows: every group gets its own
URL prefix, so one Apache serves many cases.
"""

import concurrent.futures
import inspect
import os
import re
import subprocess
import time

import pytest

from harness import ApacheServer, make_world_readable_dir

# ---------------------------------------------------------------------------
# The application used by (almost) every group: /<case>?query.

APP = r'''
import ctypes
import hashlib
import json
import locale
import os
import resource
import sys
import threading
import time
from urllib.parse import parse_qs

lock = threading.Lock()
inflight = 0
peak = 0


def _q(environ):
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _thread_stack_size():
    libc = ctypes.CDLL(None)
    libc.pthread_self.restype = ctypes.c_ulong
    attr = ctypes.create_string_buffer(256)
    if libc.pthread_getattr_np(ctypes.c_ulong(libc.pthread_self()), attr) != 0:
        return -1
    size = ctypes.c_size_t()
    libc.pthread_attr_getstacksize(attr, ctypes.byref(size))
    libc.pthread_attr_destroy(attr)
    return size.value


def _umask():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return line.split()[1]
    return None


def info(environ):
    import mod_wsgi
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "uid": os.getuid(), "euid": os.geteuid(),
        "gid": os.getgid(), "egid": os.getegid(),
        "groups": sorted(os.getgroups()),
        "cwd": os.getcwd(),
        "umask": _umask(),
        "LANG": os.environ.get("LANG"),
        "LC_ALL": os.environ.get("LC_ALL"),
        "setlocale": locale.setlocale(locale.LC_ALL),
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "executable": sys.executable,
        "path": sys.path,
        "priority": os.getpriority(os.PRIO_PROCESS, 0),
        "rlimit_data": resource.getrlimit(resource.RLIMIT_DATA),
        "rlimit_as": resource.getrlimit(resource.RLIMIT_AS),
        "rlimit_cpu": resource.getrlimit(resource.RLIMIT_CPU),
        "stack_size": _thread_stack_size(),
        "thread": threading.get_ident(),
        "multithread": environ["wsgi.multithread"],
        "multiprocess": environ["wsgi.multiprocess"],
        "run_once": environ["wsgi.run_once"],
        "environ_process_group": environ.get("mod_wsgi.process_group"),
        "environ_application_group": environ.get("mod_wsgi.application_group"),
        "module_process_group": getattr(mod_wsgi, "process_group", None),
        "env_group": environ.get("DAEMON_GROUP"),
        "eggs": os.environ.get("PYTHON_EGG_CACHE"),
        "switch_interval": sys.getswitchinterval(),
    }


class Streaming:
    """Slow chunks; close() is logged (client-disconnect test)."""

    def __init__(self, environ, chunks, size, delay):
        self.environ, self.chunks, self.size, self.delay = environ, chunks, size, delay

    def __iter__(self):
        for i in range(self.chunks):
            yield b"x" * self.size
            time.sleep(self.delay)

    def close(self):
        self.environ["wsgi.errors"].write("STREAM close called pid=%d\n" % os.getpid())
        self.environ["wsgi.errors"].flush()


def slow_function_for_timeout(seconds):
    time.sleep(seconds)


def application(environ, start_response):
    global inflight, peak
    case = environ["PATH_INFO"].strip("/")
    q = _q(environ)
    text = [("Content-Type", "text/plain")]
    if case == "info":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(info(environ)).encode()]
    if case == "pid":
        start_response("200 OK", text)
        return [str(os.getpid()).encode()]
    if case == "echo":
        data = environ["wsgi.input"].read()
        start_response("200 OK", text + [("X-Sha256", hashlib.sha256(data).hexdigest()),
                                         ("X-Length", str(len(data)))])
        return [data]
    if case == "big":
        n = int(q.get("n", 5 << 20))
        chunk = 65536
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        def gen():
            sent = 0
            i = 0
            while sent < n:
                size = min(chunk, n - sent)
                yield bytes([i % 251]) * size
                sent += size
                i += 1
        return gen()
    if case == "sleep":
        s = float(q.get("s", "1"))
        with lock:
            inflight += 1
            peak = max(peak, inflight)
        try:
            if "announce" in q:
                environ["wsgi.errors"].write("SLEEPING %s pid=%d\n" % (q.get("announce"), os.getpid()))
                environ["wsgi.errors"].flush()
            time.sleep(s)
            if "announce" in q:
                environ["wsgi.errors"].write("SLEPT %s pid=%d\n" % (q.get("announce"), os.getpid()))
                environ["wsgi.errors"].flush()
            with lock:
                mine = peak
        finally:
            with lock:
                inflight -= 1
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"pid": os.getpid(), "thread": threading.get_ident(), "peak": mine}).encode()]
    if case == "resetpeak":
        with lock:
            peak = inflight
        start_response("200 OK", text)
        return [b"ok"]
    if case == "timeout":
        environ["wsgi.errors"].write("TIMEOUT-START pid=%d\n" % os.getpid())
        environ["wsgi.errors"].flush()
        slow_function_for_timeout(float(q.get("s", "10")))
        start_response("200 OK", text)
        return [b"finished-late"]
    if case == "busyloop":
        environ["wsgi.errors"].write("BUSYLOOP-START pid=%d\n" % os.getpid())
        environ["wsgi.errors"].flush()
        try:
            while True:
                time.sleep(0.02)
        finally:
            environ["wsgi.errors"].write("BUSYLOOP unwound: %s\n" % (sys.exc_info()[0],))
            environ["wsgi.errors"].flush()
    if case == "exit":
        os._exit(int(q.get("code", "3")))
    if case == "exitmid":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        def gen():
            yield b"a" * 100000
            time.sleep(0.2)
            os._exit(4)
        return gen()
    if case == "metrics":
        import mod_wsgi
        fn = getattr(mod_wsgi, "server_metrics", None)
        value = fn() if callable(fn) else "missing"
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"callable": callable(fn), "type": type(value).__name__,
                            "keys": sorted(value) if isinstance(value, dict) else None}).encode()]
    if case == "bigheader":
        n = int(q.get("n", 20480))
        start_response("200 OK", text + [("X-Big", "h" * n)])
        return [b"bigheader-body"]
    if case == "stream":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Streaming(environ, int(q.get("chunks", 400)), int(q.get("size", 65536)), float(q.get("delay", 0.02)))
    if case == "umaskfile":
        path = "/tmp/rwsgi-daemon-umask-%d-%d" % (os.getpid(), threading.get_ident())
        with open(path, "w") as f:
            f.write("x")
        start_response("200 OK", text)
        return [path.encode()]
    if case == "import":
        import daemon_pathmod
        start_response("200 OK", text)
        return [daemon_pathmod.MARKER.encode() + b" " + daemon_pathmod.__file__.encode()]
    if case == "holdgil":
        # PyDLL calls keep the GIL: the heartbeat thread cannot run.
        environ["wsgi.errors"].write("HOLDGIL pid=%d\n" % os.getpid())
        environ["wsgi.errors"].flush()
        ctypes.PyDLL(None).sleep(int(q.get("s", "6")))
        start_response("200 OK", text)
        return [b"gil-released"]
    if case == "spin":
        end = time.process_time() + float(q.get("s", "2"))
        while time.process_time() < end:
            pass
        start_response("200 OK", text)
        return [b"spun"]
    if case == "recurse":
        sys.setrecursionlimit(100000)
        def r(n):
            return 0 if n == 0 else 1 + r(n - 1)
        depth = r(int(q.get("n", "5000")))
        start_response("200 OK", text)
        return [str(depth).encode()]
    start_response("404 Not Found", text)
    return [b"unknown case " + case.encode()]
'''

PATHMOD = 'MARKER = "pathmod-imported"\n'


# These tests define their own groups: never add the harness's daemon-mode group
# (RWSGI_TEST_MODE=daemon), which would shift the socket ids and reroute requests.
EMBEDDED = {"mode": "embedded"} if "mode" in inspect.signature(ApacheServer.__init__).parameters else {}


def get_json(srv, path, **kw):
    r = srv.get(path, **kw)
    assert r.status == 200, (path, r.status, r.body[:500])
    return r.json()


def concurrently(fn, args_list, workers=None):
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers or len(args_list)) as ex:
        return list(ex.map(fn, args_list))


def proc_cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read()


def proc_ppid(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def daemon_pids(srv, group=r"[^']+"):
    """Pids that logged "daemon process N started" (for `group`)."""
    return {int(m.group(1)) for m in re.finditer(r"mod_rwsgi \(pid=(\d+), group='%s'\): daemon process \d+ started" % group, srv.error_log())}


# Bytes of the per-group secret an Apache child sends first on each connection.
SECRET_LEN = 32


def socket_dir(srv):
    """The private directory the sockets go in (WSGISocketPrefix {root}/wsgi)."""
    return srv.path("wsgi.d")


def socket_path(srv, group_id, generation=0):
    return os.path.join(socket_dir(srv), "wsgi.%d.%d.%d.sock" % (srv.pid, generation, group_id))


def socket_files(srv):
    """Names of the socket files in the private socket directory."""
    d = socket_dir(srv)
    return sorted(f for f in os.listdir(d) if f.startswith("wsgi.") and f.endswith(".sock")) if os.path.isdir(d) else []


def wait_until(cond, timeout=5.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError("%s not reached within %.1fs" % (what, timeout))
        time.sleep(interval)


def _serve(server):
    server.start()
    try:
        yield server
        server.stop()
    finally:
        server.stop(check_log=False)
        server.cleanup()


# ---------------------------------------------------------------------------
# Shared server 1 (main_srv): environ, identity, sockets, routing directives.

# Group ids follow the order of definition (socket file names use them).
MAIN_GROUPS = ["basic", "one", "plain", "ident", "venv", "sockuser", "conc", "hdr", "disc", "nostack",
               "scriptusr", "scriptok"]

MAIN_CONFIG = r"""
WSGIDaemonProcess basic processes=2 threads=4 display-name=%{GROUP}
WSGIDaemonProcess one processes=1 threads=1
WSGIDaemonProcess plain threads=1
WSGIDaemonProcess ident user=nobody group=nogroup supplementary-groups=www-data,adm umask=0027 home={root}/home lang=C.UTF-8 locale=C.UTF-8 python-path={root}/pylib cpu-priority=5 memory-limit=1073741824 virtual-memory-limit=8589934592 cpu-time-limit=1000 stack-size=262144 display-name=rwsgi-ident-test threads=2 python-eggs=/tmp/rwsgi-eggs switch-interval=0.002
WSGIDaemonProcess venv threads=2 python-home={venv}
WSGIDaemonProcess sockuser threads=1 socket-user=nobody listen-backlog=7
WSGIDaemonProcess conc processes=1 threads=3
WSGIDaemonProcess hdr threads=2 header-buffer-size=8192
WSGIDaemonProcess disc processes=1 threads=1
WSGIDaemonProcess nostack threads=1
WSGIDaemonProcess scriptusr threads=1 script-user=nobody
WSGIDaemonProcess scriptok threads=1 script-user=root

WSGIScriptAlias /basic {root}/app.wsgi process-group=basic application-group=%{GLOBAL}
WSGIScriptAlias /one {root}/app.wsgi process-group=one application-group=%{GLOBAL}
WSGIScriptAlias /plain {root}/app.wsgi process-group=plain application-group=%{GLOBAL}
WSGIScriptAlias /ident {root}/app.wsgi process-group=ident application-group=%{GLOBAL}
WSGIScriptAlias /venv {root}/app.wsgi process-group=venv application-group=%{GLOBAL}
WSGIScriptAlias /conc {root}/app.wsgi process-group=conc application-group=%{GLOBAL}
WSGIScriptAlias /hdr {root}/app.wsgi process-group=hdr application-group=%{GLOBAL}
WSGIScriptAlias /disc {root}/app.wsgi process-group=disc application-group=%{GLOBAL}
WSGIScriptAlias /nostack {root}/app.wsgi process-group=nostack application-group=%{GLOBAL}
WSGIScriptAlias /sockuser {root}/app.wsgi process-group=sockuser application-group=%{GLOBAL}
WSGIScriptAlias /scriptusr {root}/app.wsgi process-group=scriptusr application-group=%{GLOBAL}
WSGIScriptAlias /scriptok {root}/app.wsgi process-group=scriptok application-group=%{GLOBAL}
WSGIScriptAlias /nogroup {root}/app.wsgi process-group=doesnotexist application-group=%{GLOBAL}

# WSGIProcessGroup forms (no process-group= on the alias).
WSGIScriptAlias /pg-global {root}/pg/global.wsgi
WSGIScriptAlias /pg-env {root}/pg/env.wsgi
WSGIScriptAlias /pg-dir {root}/pg/dir.wsgi
<Location /pg-global>
    WSGIProcessGroup %{GLOBAL}
</Location>
<Location /pg-env>
    SetEnv DAEMON_GROUP one
    WSGIProcessGroup %{ENV:DAEMON_GROUP}
</Location>
<Directory {root}/pg>
    WSGIProcessGroup plain
</Directory>

# WSGIRestrictProcess: only 'basic' may be used for scripts in {root}/restricted.
WSGIScriptAlias /rp-ok {root}/restricted/app.wsgi process-group=basic application-group=%{GLOBAL}
WSGIScriptAlias /rp-bad {root}/restricted/app.wsgi process-group=one application-group=%{GLOBAL}
<Directory {root}/restricted>
    WSGIRestrictProcess basic
</Directory>

<Location /chunked>
    WSGIChunkedRequest On
</Location>
WSGIScriptAlias /chunked {root}/app.wsgi process-group=basic application-group=%{GLOBAL}
"""


@pytest.fixture(scope="module")
def venv_dir():
    d = make_world_readable_dir(prefix="rwsgi-venv-")
    venv = os.path.join(d, "venv")
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", venv], check=True)
    for dirpath, dirnames, filenames in os.walk(d):
        for n in dirnames:
            os.chmod(os.path.join(dirpath, n), 0o755)
    yield venv
    import shutil

    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def main_srv(module_under_test, venv_dir):
    apps = {
        "app.wsgi": APP,
        "pg/global.wsgi": APP,
        "pg/env.wsgi": APP,
        "pg/dir.wsgi": APP,
        "restricted/app.wsgi": APP,
        "pylib/daemon_pathmod.py": PATHMOD,
    }
    server = ApacheServer(
        module=module_under_test,
        config=MAIN_CONFIG.replace("{venv}", venv_dir),
        apps=apps,
        extra_modules=[("env_module", "mod_env.so")],
        **EMBEDDED,
    )
    os.makedirs(server.path("home"), mode=0o755, exist_ok=True)
    yield from _serve(server)


# ---------------------------------------------------------------------------
# Shared server 2 (sup_srv): supervision and recycling.  Each group has its own prefix.

SUP_GROUPS = r"""
WSGIDaemonProcess kill processes=2 threads=2
WSGIDaemonProcess exit processes=1 threads=2
WSGIDaemonProcess maxreq processes=1 threads=1 maximum-requests=3 graceful-timeout=1
WSGIDaemonProcess restint processes=1 threads=1 restart-interval=2
WSGIDaemonProcess inact processes=1 threads=1 inactivity-timeout=1
WSGIDaemonProcess rt processes=1 threads=2 request-timeout=2 graceful-timeout=1
WSGIDaemonProcess intr processes=1 threads=2 request-timeout=1 interrupt-timeout=2 graceful-timeout=1
WSGIDaemonProcess queue processes=1 threads=1 queue-timeout=1
WSGIDaemonProcess sockto processes=1 threads=2 socket-timeout=1 graceful-timeout=1
WSGIDaemonProcess gone processes=1 threads=1 connect-timeout=1
WSGIDaemonProcess deadlock processes=1 threads=2 deadlock-timeout=2
WSGIDaemonProcess startup processes=1 threads=1 startup-timeout=1
WSGIDaemonProcess cpu processes=1 threads=1 cpu-time-limit=1 graceful-timeout=10
WSGIDaemonProcess keep processes=1 threads=1
WSGIDaemonProcess keep2 processes=2 threads=2
"""
SUP_NAMES = re.findall(r"WSGIDaemonProcess (\S+)", SUP_GROUPS)

SUP_CONFIG = SUP_GROUPS + "\n".join(
    "WSGIScriptAlias /%s {root}/%s process-group=%s application-group=%%{GLOBAL}"
    % (g, "broken.wsgi" if g == "startup" else "app.wsgi", g)
    for g in SUP_NAMES
)

BROKEN_APP = 'raise RuntimeError("this script fails at import")\n'


@pytest.fixture(scope="module")
def sup_srv(module_under_test):
    server = ApacheServer(module=module_under_test, config=SUP_CONFIG,
                          apps={"app.wsgi": APP, "broken.wsgi": BROKEN_APP}, **EMBEDDED)
    yield from _serve(server)


def pid_of(srv, group, timeout=10):
    r = srv.get("/%s/pid" % group, timeout=timeout)
    assert r.status == 200, (group, r.status, r.text[:300])
    return int(r.text)


RESTART_RE = r"daemon process %d of group '%s' \(pid %d\) exited \(status [^)]*\); starting a new one"


NEW_CONNECTION_RE = r"group='%s'\): new connection from Apache child (\d+)"
