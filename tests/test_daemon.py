"""Daemon mode (WSGIDaemonProcess): environ, identity and environment of the
daemon processes, the group socket, supervision/recycling, failure behaviour
and the daemon-related directives.

Servers are shared per topic (module-scoped fixtures) where the test allows:
every group gets its own URL prefix, so one Apache serves many cases.
"""

import concurrent.futures
import grp
import hashlib
import json
import os
import pwd
import re
import signal
import socket
import stat
import subprocess
import threading
import time

import pytest

import harness
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
import inspect

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


def socket_path(srv, group_id, generation=0):
    return srv.path("wsgi.%d.%d.%d.sock" % (srv.pid, generation, group_id))


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
# Shared server 1: environ, identity, sockets, routing directives.

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


# ---- 1. basics ------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix, multithread, multiprocess",
    [
        ("basic", True, True),   # processes=2 threads=4
        ("one", False, True),    # processes=1 given explicitly
        ("plain", False, False),  # processes omitted, threads=1
        ("conc", True, True),    # processes=1 threads=3
    ],
)
def test_environ_process_model(main_srv, prefix, multithread, multiprocess):
    d = get_json(main_srv, "/%s/info" % prefix)
    assert d["environ_process_group"] == prefix
    assert d["module_process_group"] == prefix
    assert d["environ_application_group"] == ""
    assert (d["multithread"], d["multiprocess"], d["run_once"]) == (multithread, multiprocess, False)
    # A daemon is a child of the Apache parent, not of an Apache worker child.
    assert d["ppid"] == main_srv.pid
    assert d["pid"] in daemon_pids(main_srv, prefix)


def test_request_body_echo_1mib(main_srv):
    body = os.urandom(1 << 20)
    r = main_srv.request("POST", "/basic/echo", body=body, headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200
    assert r.header("X-Length") == str(len(body))
    assert r.header("X-Sha256") == hashlib.sha256(body).hexdigest()
    assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(body).hexdigest()


def test_streamed_response_5mib(main_srv):
    n = 5 << 20
    r = main_srv.get("/basic/big?n=%d" % n, timeout=30)
    assert r.status == 200 and not r.incomplete
    expected = b"".join(bytes([i % 251]) * min(65536, n - i * 65536) for i in range((n + 65535) // 65536))
    assert len(r.body) == n
    assert hashlib.sha256(r.body).digest() == hashlib.sha256(expected).digest()


def test_head_request(main_srv):
    r = main_srv.request("HEAD", "/basic/big?n=100000", raw=True)
    assert r.status == 200
    assert r.body == b""
    r = main_srv.request("HEAD", "/basic/pid", raw=True)
    assert r.status == 200 and r.body == b""


def test_chunked_request_body(main_srv):
    parts = [os.urandom(1000), os.urandom(70000), b"tail"]
    data = harness.chunked(*parts)
    r = main_srv.request("POST", "/chunked/echo", raw=True, body=data,
                         headers={"Transfer-Encoding": "chunked", "Content-Type": "application/octet-stream"})
    whole = b"".join(parts)
    assert r.status == 200, r.body[:300]
    assert r.body == whole
    assert dict((k.lower(), v) for k, v in r.headers)["x-sha256"] == hashlib.sha256(whole).hexdigest()


def test_unknown_group_is_500(main_srv):
    mark = main_srv.log_mark()
    r = main_srv.get("/nogroup/pid")
    assert r.status == 500
    main_srv.wait_for_log(r"No WSGI daemon process called 'doesnotexist' has been configured", since=mark)


# ---- 2. identity and environment -----------------------------------------


def test_identity_user_group_supplementary(main_srv):
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrnam("nogroup")
    www = pwd.getpwnam("www-data")
    extra = sorted({grp.getgrnam("www-data").gr_gid, grp.getgrnam("adm").gr_gid})
    d = get_json(main_srv, "/ident/info")
    assert (d["uid"], d["euid"]) == (nobody.pw_uid, nobody.pw_uid)
    assert (d["gid"], d["egid"]) == (nogroup.gr_gid, nogroup.gr_gid)
    assert d["groups"] == extra
    # The other group runs as Apache's User at the same time.
    b = get_json(main_srv, "/basic/info")
    assert (b["uid"], b["gid"]) == (www.pw_uid, www.pw_gid)
    assert b["groups"] == [www.pw_gid]  # initgroups(www-data)
    # /proc agrees (real, effective, saved, fs ids).
    with open("/proc/%d/status" % d["pid"]) as f:
        status = f.read()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    assert uids == [str(nobody.pw_uid)] * 4


def test_umask_home_lang_locale(main_srv):
    d = get_json(main_srv, "/ident/info")
    assert d["umask"] == "0027"
    assert d["cwd"] == main_srv.path("home")
    assert d["LANG"] == "C.UTF-8"
    assert d["LC_ALL"] == "C.UTF-8"
    assert d["setlocale"] in ("C.UTF-8", "C.utf8")
    r = main_srv.get("/ident/umaskfile")
    assert r.status == 200
    path = r.text
    try:
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o640
        assert st.st_uid == pwd.getpwnam("nobody").pw_uid
    finally:
        os.unlink(path)
    # Without umask=/home=: Apache's umask and '/'.
    b = get_json(main_srv, "/basic/info")
    assert b["cwd"] == "/"
    assert b["LANG"] == "C"  # inherited from the Apache parent's environment


def test_display_name(main_srv):
    d = get_json(main_srv, "/ident/info")
    cmd = proc_cmdline(d["pid"])
    assert cmd.split(b"\0")[0] == b"rwsgi-ident-test", cmd
    with open("/proc/%d/comm" % d["pid"]) as f:
        assert f.read().strip() == "rwsgi-ident-tes"  # 15 characters
    pids = set()
    for _ in range(20):
        pids.add(get_json(main_srv, "/basic/info")["pid"])
    for pid in pids:
        assert proc_cmdline(pid).split(b"\0")[0] == b"(wsgi:basic)"
    # A group without display-name keeps Apache's command line.
    p = get_json(main_srv, "/plain/info")["pid"]
    assert b"apache2" in proc_cmdline(p)


def test_python_path(main_srv):
    r = main_srv.get("/ident/import")
    assert r.status == 200, r.text
    assert r.text == "pathmod-imported %s" % main_srv.path("pylib", "daemon_pathmod.py")
    d = get_json(main_srv, "/ident/info")
    assert main_srv.path("pylib") in d["path"]
    # Other groups do not get it.
    mark = main_srv.log_mark()
    assert main_srv.get("/basic/import").status == 500
    main_srv.wait_for_log(r"No module named 'daemon_pathmod'", since=mark)


def test_python_home_venv(main_srv, venv_dir):
    d = get_json(main_srv, "/venv/info")
    assert d["prefix"] == venv_dir
    assert d["base_prefix"] == "/usr"
    b = get_json(main_srv, "/basic/info")
    assert b["prefix"] == "/usr"


def test_cpu_priority_and_resource_limits(main_srv):
    d = get_json(main_srv, "/ident/info")
    assert d["priority"] == 5
    assert d["rlimit_data"] == [1073741824, 1073741824]
    assert d["rlimit_as"] == [8589934592, 8589934592]
    soft, hard = d["rlimit_cpu"]
    assert soft == 1000 and hard > soft
    b = get_json(main_srv, "/basic/info")
    assert b["priority"] == 0
    assert b["rlimit_data"][0] != 1073741824


def test_stack_size(main_srv):
    d = get_json(main_srv, "/ident/info")
    assert 262144 <= d["stack_size"] < 262144 + 65536, d["stack_size"]
    default = get_json(main_srv, "/nostack/info")["stack_size"]
    assert default >= 1 << 20, default
    # Deep Python recursion works on the default stack.
    r = main_srv.get("/nostack/recurse?n=20000")
    assert (r.status, r.text) == (200, "20000")


def test_python_eggs_and_switch_interval(main_srv):
    d = get_json(main_srv, "/ident/info")
    assert d["eggs"] == "/tmp/rwsgi-eggs"
    assert d["switch_interval"] == pytest.approx(0.002)
    b = get_json(main_srv, "/basic/info")
    assert b["eggs"] is None
    assert b["switch_interval"] == pytest.approx(0.005)


def test_script_user(main_srv):
    # The scripts are owned by root: script-user=root serves, script-user=nobody refuses (403).
    assert os.stat(main_srv.path("app.wsgi")).st_uid == 0
    r = main_srv.get("/scriptok/pid")
    assert r.status == 200
    mark = main_srv.log_mark()
    r = main_srv.get("/scriptusr/pid")
    assert r.status == 403, (r.status, r.text[:200])
    main_srv.wait_for_log(re.escape(main_srv.path("app.wsgi")), since=mark)


GROUP_APP = """
import mod_wsgi


def application(environ, start_response):
    body = mod_wsgi.process_group.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def test_group_defined_in_virtual_host(apache):
    """A group defined in a virtual host serves that host, also when the host
    has no ServerName of its own (it inherits the main server's: the usual
    `<VirtualHost *:80>` of a container) or names it after WSGIDaemonProcess;
    another host may not use it."""
    config = """
        <VirtualHost 127.0.0.1:{port}>
            WSGIDaemonProcess vh_inherited threads=1
            WSGIScriptAlias /other {root}/app.wsgi process-group=vh_late
            WSGIScriptAlias / {root}/app.wsgi process-group=vh_inherited application-group=%{GLOBAL}
        </VirtualHost>
        <VirtualHost 127.0.0.1:{port}>
            WSGIDaemonProcess vh_late threads=1
            ServerName late.example
            WSGIScriptAlias / {root}/app.wsgi process-group=vh_late application-group=%{GLOBAL}
        </VirtualHost>
        """
    srv = apache(config, apps={"app.wsgi": GROUP_APP}, **EMBEDDED)
    r = srv.get("/")
    assert (r.status, r.body) == (200, b"vh_inherited"), r.body[:500]
    r = srv.get("/", headers={"Host": "late.example"})
    assert (r.status, r.body) == (200, b"vh_late"), r.body[:500]
    mark = srv.log_mark()
    assert srv.get("/other").status == 500
    srv.wait_for_log(r"No WSGI daemon process called 'vh_late' has been configured", since=mark)


def test_server_metrics_default_off(main_srv):
    # Without server-metrics=On, mod_wsgi.server_metrics() (if provided) returns None.
    off = get_json(main_srv, "/basic/metrics")
    assert off["type"] in ("NoneType", "str"), off  # "str": the function does not exist


def test_server_metrics_on(apache):
    """server-metrics=On must either work (mod_wsgi.server_metrics() returns a dict)
    or be refused at configuration time naming the option: never be silently ignored."""
    config = """
        WSGIDaemonProcess metrics threads=1 server-metrics=On
        WSGIScriptAlias /metrics {root}/app.wsgi process-group=metrics application-group=%{GLOBAL}
        """
    srv = apache(config, apps={"app.wsgi": APP}, start=False, **EMBEDDED)
    rc, out = srv.config_test()
    if rc != 0:
        assert re.search(r"WSGIDaemonProcess: option 'server-metrics'", out), out
        return
    srv.start()
    on = get_json(srv, "/metrics/metrics")
    assert on["callable"] and on["type"] == "dict", on


def test_process_count(main_srv):
    # 8 concurrent 0.6 s requests to 2 processes x 4 threads: both processes serve.
    def one(_):
        return get_json(main_srv, "/basic/sleep?s=0.6")["pid"]

    pids = set(concurrently(one, range(8)))
    for _ in range(10):
        pids.add(int(main_srv.get("/basic/pid").text))
    assert len(pids) == 2, pids
    for pid in pids:
        assert proc_ppid(pid) == main_srv.pid


def test_thread_count(main_srv):
    # conc: processes=1 threads=3; 4 concurrent requests: at most 3 run at once.
    assert main_srv.get("/conc/resetpeak").status == 200
    t0 = time.monotonic()
    res = concurrently(lambda _: get_json(main_srv, "/conc/sleep?s=1"), range(4))
    elapsed = time.monotonic() - t0
    assert len({r["pid"] for r in res}) == 1
    assert max(r["peak"] for r in res) == 3, res
    assert len({r["thread"] for r in res}) == 3
    assert 1.9 < elapsed < 4.0, elapsed


# ---- 3. socket ----------------------------------------------------------


def test_socket_file(main_srv):
    www = pwd.getpwnam("www-data").pw_uid
    nobody = pwd.getpwnam("nobody").pw_uid
    for gid, name in enumerate(MAIN_GROUPS):
        path = socket_path(main_srv, gid)
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode), path
        assert stat.S_IMODE(st.st_mode) == 0o600, (path, oct(st.st_mode))
        expected = nobody if name == "sockuser" else www
        assert st.st_uid == expected, (name, st.st_uid)
    # Nothing else was created with the prefix.
    socks = sorted(f for f in os.listdir(main_srv.root) if f.startswith("wsgi.") and f.endswith(".sock"))
    assert len(socks) == len(MAIN_GROUPS), socks
    main_srv.wait_for_log(r"starting daemon process group 'basic' \(2 processes x 4 threads\) on " + re.escape(socket_path(main_srv, 0)))


def test_listen_backlog(main_srv):
    def backlog(group):
        out = subprocess.run(["ss", "-xlnH", "src", socket_path(main_srv, MAIN_GROUPS.index(group))],
                             capture_output=True, text=True, check=True).stdout.split()
        return int(out[3])

    assert backlog("sockuser") == 7
    assert backlog("basic") == 100


def test_socket_user_blocks_apache_children(main_srv):
    # The socket belongs to nobody (mode 0600): www-data children cannot connect -> 503 at once.
    mark = main_srv.log_mark()
    t0 = time.monotonic()
    r = main_srv.get("/sockuser/pid")
    assert r.status == 503
    assert time.monotonic() - t0 < 2
    main_srv.wait_for_log(r"unable to connect to daemon process group 'sockuser' .*Permission denied", since=mark)


def test_direct_connection_refused(main_srv):
    path = socket_path(main_srv, MAIN_GROUPS.index("one"))
    mark = main_srv.log_mark()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        try:
            s.sendall(b"\0" * 64)
        except OSError:
            pass
        # The daemon closes the connection without answering.
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        assert data == b""
    main_srv.wait_for_log(
        r"group='one'\): refused a connection: peer pid %d \(uid 0\) is not a child of this Apache server" % os.getpid(),
        since=mark,
    )
    # The (single-threaded) daemon goes on serving.
    r = main_srv.get("/one/pid")
    assert r.status == 200


# ---- 5. failure behaviour (shared server part) ----------------------------


def test_response_header_exceeds_header_buffer_size(main_srv):
    mark = main_srv.log_mark()
    r = main_srv.get("/hdr/bigheader?n=20480")
    assert r.status == 502
    assert b"hhhhhhhh" not in r.body
    main_srv.wait_for_log(r"daemon process group 'hdr': response header block of \d+ bytes exceeds header-buffer-size \(8192\)", since=mark)
    # The default (32768) lets the same header through; a small one passes in 'hdr'.
    r = main_srv.get("/basic/bigheader?n=20480")
    assert r.status == 200 and r.header("X-Big") == "h" * 20480
    r = main_srv.get("/hdr/bigheader?n=100")
    assert r.status == 200 and r.body == b"bigheader-body"


def test_client_disconnect_mid_response(main_srv):
    mark = main_srv.log_mark()
    # disc: one thread; 400 x 64 KiB chunks, 20 ms apart (8 s if nobody stops it).
    with main_srv.connect() as c:
        c.send(b"GET /disc/stream?chunks=400&delay=0.02 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        c.read_head()
        got = 0
        while got < 300000:
            chunk = c.recv_some(5)
            assert chunk, "stream ended early"
            got += len(chunk)
    t0 = time.monotonic()
    main_srv.wait_for_log(r"STREAM close called", since=mark, timeout=6)
    # The only request thread is free again.
    r = main_srv.get("/disc/pid", timeout=10)
    assert r.status == 200
    assert time.monotonic() - t0 < 4


# ---- 6. directives (shared server part) ------------------------------------


def test_process_group_global_is_embedded(main_srv):
    d = get_json(main_srv, "/pg-global/info")
    assert d["environ_process_group"] == ""
    assert d["pid"] in main_srv.child_pids()
    assert d["pid"] not in daemon_pids(main_srv)


def test_process_group_env(main_srv):
    d = get_json(main_srv, "/pg-env/info")
    assert d["env_group"] == "one"
    assert d["environ_process_group"] == "one"
    assert d["ppid"] == main_srv.pid and d["pid"] in daemon_pids(main_srv, "one")


def test_process_group_directive_in_directory(main_srv):
    d = get_json(main_srv, "/pg-dir/info")
    assert d["environ_process_group"] == "plain"


def test_restrict_process(main_srv):
    d = get_json(main_srv, "/rp-ok/info")
    assert d["environ_process_group"] == "basic"
    mark = main_srv.log_mark()
    r = main_srv.get("/rp-bad/info")
    assert r.status == 500
    main_srv.wait_for_log(r"process group 'one' is not allowed here by WSGIRestrictProcess", since=mark)


# ---------------------------------------------------------------------------
# Shared server 2: supervision and recycling.  Each group has its own prefix.

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
WSGIDaemonProcess cpu processes=1 threads=1 cpu-time-limit=1 graceful-timeout=1
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


def test_connections_are_kept_between_requests(sup_srv):
    mark = sup_srv.log_mark()
    pids = {pid_of(sup_srv, "keep") for _ in range(20)}
    assert len(pids) == 1
    time.sleep(0.2)
    new = re.findall(NEW_CONNECTION_RE % "keep", sup_srv.error_log(mark))
    # Sequential requests: at most one connection per Apache child (ServerLimit 2).
    assert len(new) <= 2, new


def test_one_thread_daemon_takes_every_childs_connections(sup_srv):
    # threads=1: the daemon holds one connection at a time, closing the idle
    # one to take a new one; the request on a closed kept connection is sent
    # again on a new one. Nothing fails and nothing runs twice.
    mark = sup_srv.log_mark()
    for round_ in range(8):
        tags = ["%d-%d" % (round_, i) for i in range(3)]
        results = concurrently(lambda t: sup_srv.get("/keep/sleep?s=0.05&announce=" + t), tags)
        assert [r.status for r in results] == [200] * 3, [(r.status, r.text[:200]) for r in results]
    log = sup_srv.error_log(mark)
    for round_ in range(8):
        for i in range(3):
            assert log.count("SLEEPING %d-%d " % (round_, i)) == 1, (round_, i)
    assert len(re.findall(NEW_CONNECTION_RE % "keep", log)) >= 2
    assert not re.search(r"\[rwsgi:error\].*mod_rwsgi", log), log[-2000:]


def test_kept_connections_spread_over_processes(sup_srv):
    # Each process holds no more connections than it has threads, so four
    # concurrent requests reach both processes of keep2 (2 x 2 threads) and
    # none waits while a process is idle.
    for _ in range(3):
        seen = concurrently(lambda _: get_json(sup_srv, "/keep2/sleep?s=0.3"), range(4))
        assert len({r["pid"] for r in seen}) == 2, seen


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


def test_socket_rotation_off(apache):
    srv = apache(
        """
        WSGISocketRotation Off
        WSGIDaemonProcess first threads=1
        WSGIDaemonProcess second threads=1 user=nobody group=nogroup home=/tmp
        WSGIScriptAlias /first {root}/app.wsgi process-group=first application-group=%{GLOBAL}
        WSGIScriptAlias /second {root}/app.wsgi process-group=second application-group=%{GLOBAL}
        """,
        apps={"app.wsgi": APP},
        **EMBEDDED,
    )
    www = pwd.getpwnam("www-data").pw_uid
    nobody = pwd.getpwnam("nobody").pw_uid
    p1 = srv.path("wsgi.%d.u%d.0.sock" % (srv.pid, www))
    p2 = srv.path("wsgi.%d.u%d.1.sock" % (srv.pid, nobody))
    for p in (p1, p2):
        st = os.stat(p)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_uid == www
    assert srv.get("/first/pid").status == 200
    assert srv.get("/second/pid").status == 200
    # The name survives a graceful restart.
    srv.graceful()
    assert os.path.exists(p1) and os.path.exists(p2)
    assert srv.get("/first/pid").status == 200


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


PRELOAD_WRAPPER = r'''
import builtins
PRELOADED = getattr(builtins, "RWSGI_PRELOADED", None)
_application = application


def application(environ, start_response):
    if environ["PATH_INFO"] == "/preloaded":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("%s %s" % (PRELOADED, os.getpid())).encode()]
    return _application(environ, start_response)
'''


def test_restrict_embedded_and_import_script(apache, app_dir):
    marker_dir = app_dir.path
    os.chmod(marker_dir, 0o777)
    srv = apache(
        """
        WSGIRestrictEmbedded On
        WSGIDaemonProcess imp processes=2 threads=1
        WSGIImportScript {root}/preload.py process-group=imp application-group=%{GLOBAL}
        WSGIScriptAlias /imp {root}/app.wsgi process-group=imp application-group=%{GLOBAL}
        WSGIScriptAlias /emb {root}/app.wsgi
        """,
        apps={
            "app.wsgi": APP + PRELOAD_WRAPPER,
            "preload.py": """
                import builtins, os
                builtins.RWSGI_PRELOADED = os.getpid()
                with open(%r + "/marker-%%d" %% os.getpid(), "w") as f:
                    f.write("preloaded")
                """ % marker_dir,
        },
        **EMBEDDED,
    )
    # Both daemons preload the script without any request.
    wait_until(lambda: len([f for f in os.listdir(marker_dir) if f.startswith("marker-")]) == 2, timeout=10,
               what="two import-script markers")
    pids = {int(f.split("-")[1]) for f in os.listdir(marker_dir) if f.startswith("marker-")}
    for pid in pids:
        assert proc_ppid(pid) == srv.pid
    d = get_json(srv, "/imp/info")
    assert d["pid"] in pids
    # The script ran in the interpreter the application uses, before the application.
    preloaded, pid = srv.get("/imp/preloaded").text.split()
    assert preloaded == pid and int(pid) in pids
    # Embedded requests are refused.
    mark = srv.log_mark()
    r = srv.get("/emb/info")
    assert r.status == 500
    srv.wait_for_log(r"embedded mode is disabled by WSGIRestrictEmbedded", since=mark)
    # Apache's children never start Python.
    assert srv.log_lines(r"Python initialised in process") == []


# ---- configuration errors (apache2 -t) ---------------------------------------


@pytest.mark.parametrize(
    "config, expected",
    [
        (
            """
            WSGIImportScript {root}/x.py process-group=later application-group=%{GLOBAL}
            WSGIDaemonProcess later threads=1
            """,
            r"WSGIImportScript: no WSGIDaemonProcess named 'later' is defined before this line",
        ),
        (
            """
            WSGIDaemonProcess dup threads=1
            WSGIDaemonProcess dup threads=2
            """,
            r"WSGIDaemonProcess: the name 'dup' is already used by the group defined at",
        ),
        ("WSGIDaemonProcess g colour=blue", r"WSGIDaemonProcess: unknown option 'colour'"),
        ("WSGIDaemonProcess g chroot=/jail", r"WSGIDaemonProcess: option 'chroot': chroot is not supported"),
        ("WSGIDaemonProcess g user=root", r"WSGIDaemonProcess: option 'user': .*must not run as root"),
        ("WSGIDaemonProcess g threads=0", r"WSGIDaemonProcess: option 'threads'"),
        ("WSGIDaemonProcess g threads=2 threads=3", r"option 'threads' is given more than once"),
        ("WSGIDaemonProcess g header-buffer-size=100", r"option 'header-buffer-size': .*at least 8192"),
    ],
    ids=["import-before-group", "duplicate-name", "unknown-option", "chroot", "user-root", "threads-0",
         "repeated-option", "header-buffer-size"],
)
def test_config_errors(apache, config, expected):
    srv = apache(config, start=False, **EMBEDDED)
    rc, out = srv.config_test()
    assert rc != 0, out
    assert re.search(expected, out), out


def test_config_error_unknown_user(apache):
    # Users are resolved at start-up: the server refuses to start.
    srv = apache("WSGIDaemonProcess g user=no-such-user-xyz", start=False, **EMBEDDED)
    with pytest.raises(RuntimeError) as e:
        srv.start()
    assert "no such user 'no-such-user-xyz'" in str(e.value)


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
