"""Integration-test harness: run the real Debian Apache 2.4 with a generated config.

Typical use (see conftest.py for the pytest fixtures)::

    srv = ApacheServer(module="wsgi", config="WSGIScriptAlias /app {root}/app.wsgi")
    srv.write_file("app.wsgi", HELLO_APP)
    srv.start()
    status, headers, body = srv.request("GET", "/app")
    srv.stop()          # SIGTERM, reap, kill leftovers, check the error log

Everything the server (running as www-data) touches lives in a per-server root
directory under /tmp with mode 0755.  Only /usr/bin/python3 style system paths
are used; nothing under /root is needed by the children.

Placeholders replaced in the extra config (plain string replacement, so Apache's
own ``%{GLOBAL}`` / ``${VAR}`` syntax is left alone):

    {root}   the server root directory (no trailing slash)
    {port}   the listening port
    {apps}   tests/apps in this repository (read-only shared apps)
"""

from __future__ import annotations

import collections
import sys
import glob
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)
APPS_DIR = os.path.join(TESTS_DIR, "apps")

APACHE_BIN = "/usr/sbin/apache2"
MODULES_DIR = "/usr/lib/apache2/modules"
MOD_WSGI_PATH = os.path.join(MODULES_DIR, "mod_wsgi.so")
DEFAULT_RWSGI_PATH = os.path.join(REPO_ROOT, "target", "release", "libmod_rwsgi.so")

# module choice -> (LoadModule symbol, short name used by LogLevel/log tags)
MODULES = {
    "rwsgi": ("rwsgi_module", "rwsgi"),
    "wsgi": ("wsgi_module", "wsgi"),
}

# event and worker: the same threaded layout. ServerLimit 2 leaves a
# scoreboard slot for the old child during a graceful restart.
THREADED_SIZING = """\
        StartServers 1
        ServerLimit 2
        ThreadLimit 4
        ThreadsPerChild 4
        MinSpareThreads 1
        MaxSpareThreads 4
        MaxRequestWorkers 4
        """

MPM_SIZING = {
    "event": THREADED_SIZING,
    "worker": THREADED_SIZING,
    "prefork": """\
        StartServers 2
        MinSpareServers 1
        MaxSpareServers 2
        ServerLimit 4
        MaxRequestWorkers 4
        """,
}

# Lines in error.log that always mean something went badly wrong (AH00052
# "child pid N exit signal Segmentation fault (11)", Rust panics).
BAD_LOG_PATTERNS = [r"Segmentation fault", r"exit signal", r"panic"]


def _enable_core_dumps():
    """preexec_fn for Apache: allow core files (see known_apache_crash)."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def known_apache_crash(core):
    """True when a core file shows Debian's Apache 2.4.71 mpm_event crashing in
    its own child-exit path (reproduced with no WSGI module loaded: about 1 in
    60 hard SIGTERM stops). Anything else, or no gdb, is not excused."""
    try:
        out = subprocess.run(
            ["gdb", "-q", "-batch", "-ex", "bt 30", APACHE_BIN, core],
            capture_output=True, text=True, timeout=60,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    frames = [l for l in out.splitlines() if l.startswith("#")]
    # gdb prints the faulting frame once on loading the core, then the backtrace.
    starts = [i for i, l in enumerate(frames) if l.startswith("#0 ")]
    frames = frames[starts[-1]:] if starts else []
    text = "\n".join(frames)
    # The signature of that crash: it faults in apr_os_sock_get called from
    # mpm_event's exit path, and nothing of ours is on the stack.
    return (
        len(frames) > 1
        and "apr_os_sock_get" in frames[0]
        and "mod_mpm_event" in frames[1]
        and "mod_rwsgi" not in text
        and "python" not in text
    )

START_TIMEOUT = 15.0
STOP_TIMEOUT = 12.0


def default_module():
    """Module under test: env RWSGI_TEST_MODULE (rwsgi|wsgi), default rwsgi."""
    return os.environ.get("RWSGI_TEST_MODULE", "rwsgi")


def default_mode():
    """Where applications run: env RWSGI_TEST_MODE (embedded|daemon), default embedded.

    In daemon mode every server gets a daemon process group that the whole
    server is routed to (WSGIProcessGroup at server level), so the same WSGI
    behaviour tests exercise the daemon transport.
    """
    mode = os.environ.get("RWSGI_TEST_MODE", "embedded")
    if mode not in ("embedded", "daemon"):
        raise ValueError("RWSGI_TEST_MODE must be embedded or daemon")
    return mode


DAEMON_MODE_CONFIG = """\
WSGIDaemonProcess testdaemon processes=1 threads=4
WSGIProcessGroup testdaemon
"""


def rwsgi_module_path():
    path = os.environ.get("RWSGI_MODULE", DEFAULT_RWSGI_PATH)
    return os.path.abspath(path)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pip_venv(path, packages, imports):
    """A virtualenv at `path` (made once and kept between runs) holding
    `packages` from PyPI, checked by importing `imports`, and readable by
    Apache's children (www-data). A failed install fails the test."""
    import subprocess
    python = os.path.join(path, "bin", "python")
    probe = [python, "-c", "import " + ", ".join(imports)]
    if not os.path.exists(python) or subprocess.run(probe, capture_output=True).returncode != 0:
        subprocess.run(["/usr/bin/python3", "-m", "venv", path], check=True)
        pip = subprocess.run([python, "-m", "pip", "install", "-q", *packages], capture_output=True, text=True, timeout=900)
        if pip.returncode != 0:
            import pytest
            pytest.fail("cannot install %s into %s: %s" % (", ".join(packages), path, pip.stderr[-2000:]))
    subprocess.run(["chmod", "-R", "a+rX", path], check=True)
    return path


def make_world_readable_dir(prefix="rwsgi-test-"):
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d


def write_world_readable(path, text, dedent=True, mode=0o644):
    """Write text (or bytes) to path, creating parent dirs (0755); file mode 0644."""
    parent = os.path.dirname(path)
    if parent and not os.path.isdir(parent):
        os.makedirs(parent, mode=0o755, exist_ok=True)
        os.chmod(parent, 0o755)
    if isinstance(text, str):
        if dedent:
            text = textwrap.dedent(text)
        data = text.encode("utf-8")
    else:
        data = text
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


class Response(collections.namedtuple("Response", "status headers body")):
    """(status, headers, body); headers is a list of (name, value) in wire order.

    Extra attributes: reason, version, incomplete (the body ended early).
    """

    reason = ""
    version = 11
    incomplete = False

    def header(self, name, default=None):
        """First value of header `name` (case-insensitive)."""
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        import json

        return json.loads(self.body)


ParsedResponse = collections.namedtuple(
    "ParsedResponse", "status reason headers body chunked complete interim raw"
)


def parse_response(data, head=False):
    """Parse raw bytes of ONE HTTP/1.x response (1xx interim responses are collected).

    Returns ParsedResponse(status, reason, headers, body, chunked, complete,
    interim, raw).  `chunked` tells whether Transfer-Encoding: chunked was used,
    `complete` whether the body was fully framed (chunked terminator seen, or
    Content-Length bytes present; for read-until-close bodies always True).
    `interim` is a list of (status, reason) of 1xx responses that preceded it.
    """
    raw = data
    interim = []
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            if not data:
                raise ConnectionError("server closed the connection without a response")
            raise ValueError("no complete response head in %r" % data[:200])
        head_bytes, data = data[:end], data[end + 4:]
        lines = head_bytes.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        status = int(parts[1])
        reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
        if 100 <= status < 200:
            interim.append((status, reason))
            continue
        break
    hdict = {k.lower(): v for k, v in headers}
    chunked = "chunked" in hdict.get("transfer-encoding", "").lower()
    if head or status in (204, 304):
        return ParsedResponse(status, reason, headers, data, chunked, True, interim, raw)
    if chunked:
        body = b""
        complete = False
        rest = data
        while True:
            nl = rest.find(b"\r\n")
            if nl < 0:
                break
            size_line = rest[:nl].split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                break
            rest = rest[nl + 2:]
            if size == 0:
                complete = True
                break
            if len(rest) < size + 2:
                body += rest[:size]
                break
            body += rest[:size]
            rest = rest[size + 2:]
        return ParsedResponse(status, reason, headers, body, True, complete, interim, raw)
    if "content-length" in hdict:
        try:
            n = int(hdict["content-length"])
        except ValueError:
            return ParsedResponse(status, reason, headers, data, False, False, interim, raw)
        return ParsedResponse(status, reason, headers, data[:n], False, len(data) >= n, interim, raw)
    return ParsedResponse(status, reason, headers, data, False, True, interim, raw)


class RawConnection:
    """A plain socket to the server, for hand-written requests."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def recv_some(self, timeout=None):
        """One recv(); b"" at EOF, None on timeout."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return None
        self.buf += chunk
        return chunk

    def read_until(self, marker, timeout=10.0):
        """Read until `marker` is in the buffer; returns the buffer up to and including it."""
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("marker %r not seen; got %r" % (marker, self.buf[:500]))
            chunk = self.recv_some(left)
            if chunk == b"":
                raise ConnectionError("EOF before marker %r; got %r" % (marker, self.buf[:500]))
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_head(self, timeout=10.0):
        """Read one response head (status line + headers); returns it as bytes."""
        return self.read_until(b"\r\n\r\n", timeout)

    def read_until_close(self, timeout=10.0):
        """Read until the server closes; returns everything unread.

        Raises TimeoutError (with the data so far in .args[1]) on timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("server did not close the connection", self.buf)
            chunk = self.recv_some(left)
            if chunk == b"":
                break
        out, self.buf = self.buf, b""
        return out

    def read_available(self, quiet=0.3, timeout=10.0):
        """Read until nothing arrives for `quiet` seconds (or EOF/timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = self.recv_some(quiet)
            if chunk is None or chunk == b"":
                break
        out, self.buf = self.buf, b""
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ApacheServer:
    """One Apache instance (foreground parent + its children) with a generated config."""

    def __init__(
        self,
        module=None,
        mpm="event",
        config="",
        module_path=None,
        apps=None,
        loglevel=None,
        env=None,
        mpm_config=None,
        extra_modules=(),
        root=None,
        mode=None,
        load_module=True,
    ):
        self.module = module or default_module()
        if self.module not in MODULES:
            raise ValueError("module must be one of %s" % sorted(MODULES))
        if mpm not in MPM_SIZING:
            raise ValueError("mpm must be one of %s" % sorted(MPM_SIZING))
        self.mpm = mpm
        self.mode = mode or default_mode()
        self.module_symbol, self.module_short = MODULES[self.module]
        if module_path is None:
            module_path = MOD_WSGI_PATH if self.module == "wsgi" else rwsgi_module_path()
        self.module_path = module_path
        # False: the test's configuration loads the module itself (a distribution layout).
        self.load_module = load_module
        self.extra_config = textwrap.dedent(config)
        self.loglevel = loglevel or "info %s:debug" % self.module_short
        self.mpm_config = mpm_config
        self.extra_modules = list(extra_modules)
        self.env = dict(env or {})
        self.root = root or make_world_readable_dir()
        self.conf_path = os.path.join(self.root, "httpd.conf")
        self.error_log_path = os.path.join(self.root, "error.log")
        self.stdout_path = os.path.join(self.root, "stdout.log")
        self.pid_path = os.path.join(self.root, "httpd.pid")
        self.port = None
        self.proc = None
        self.bad_log_patterns = list(BAD_LOG_PATTERNS)
        if self.module == "wsgi":
            # mod_wsgi 4.9.4 + Python 3.11 deadlocks in Py_EndInterpreter at child
            # exit under event/worker (mod_wsgi issue #730): Apache would need ~10 s
            # to SIGKILL it.  Don't wait for that.
            self.stop_timeout = 2.0
        else:
            self.stop_timeout = STOP_TIMEOUT
            # A child that hangs at shutdown is a bug in our module.
            self.bad_log_patterns.append(r"still did not exit")
        for name, src in (apps or {}).items():
            self.write_file(name, src)

    # ---- files -------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def write_file(self, relpath, text, dedent=True, mode=0o644):
        """Write a (world-readable) file relative to the server root; returns its path."""
        return write_world_readable(self.path(relpath), text, dedent=dedent, mode=mode)

    def copy_app(self, name, dest=None):
        """Copy tests/apps/<name> into the server root (as `dest`); returns the new path."""
        dest = self.path(dest or name)
        os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
        shutil.copyfile(os.path.join(APPS_DIR, name), dest)
        os.chmod(dest, 0o644)
        return dest

    def substitute(self, text):
        return (
            text.replace("{root}", self.root)
            .replace("{port}", str(self.port))
            .replace("{apps}", APPS_DIR)
        )

    # ---- configuration -------------------------------------------------
    def render_config(self):
        lm = lambda name, f: "LoadModule %s %s/%s" % (name, MODULES_DIR, f)
        lines = [
            "ServerRoot %s" % self.root,
            "DefaultRuntimeDir %s" % self.root,
            "PidFile %s" % self.pid_path,
            "ErrorLog %s" % self.error_log_path,
            "Listen 127.0.0.1:%d" % self.port,
            "ServerName localhost",
            "User www-data",
            "Group www-data",
            "Timeout 30",
            "CoreDumpDirectory %s" % self.path("cores"),
            "GracefulShutdownTimeout 3",
            lm("mpm_%s_module" % self.mpm, "mod_mpm_%s.so" % self.mpm),
            lm("authz_core_module", "mod_authz_core.so"),
            lm("mime_module", "mod_mime.so"),
            lm("alias_module", "mod_alias.so"),
            lm("dir_module", "mod_dir.so"),
        ]
        for name, f in self.extra_modules:
            lines.append(lm(name, f) if "/" not in f else "LoadModule %s %s" % (name, f))
        lines += [
            "TypesConfig /etc/mime.types",
            "LoadModule %s %s" % (self.module_symbol, self.module_path) if self.load_module else "",
            "LogLevel %s" % self.loglevel,
            textwrap.dedent(self.mpm_config if self.mpm_config is not None else MPM_SIZING[self.mpm]),
            "WSGISocketPrefix %s/wsgi" % self.root,
            "DocumentRoot %s/htdocs" % self.root,
            "<Directory />",
            "    Require all denied",
            "</Directory>",
            "<Directory %s>" % self.root,
            "    Require all granted",
            "</Directory>",
            "<Directory %s>" % APPS_DIR,
            "    Require all granted",
            "</Directory>",
            "",
            DAEMON_MODE_CONFIG if self.mode == "daemon" else "",
            "# ---- test-supplied config ----",
            self.substitute(self.extra_config),
            "",
        ]
        return "\n".join(lines)

    def write_config(self):
        if self.port is None:
            self.port = free_port()
        os.makedirs(self.path("htdocs"), mode=0o755, exist_ok=True)
        os.makedirs(self.path("cores"), exist_ok=True)
        os.chmod(self.path("cores"), 0o777)  # children and daemons are www-data
        write_world_readable(self.conf_path, self.render_config(), dedent=False)

    def _child_env(self):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
        env.update(self.env)
        return env

    def config_test(self):
        """Run `apache2 -t -f conf`; returns (returncode, combined output). Does not start."""
        self.write_config()
        p = subprocess.run(
            [APACHE_BIN, "-t", "-f", self.conf_path],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self._child_env(),
            timeout=30,
        )
        return p.returncode, p.stdout.decode("utf-8", "replace")

    # ---- lifecycle -------------------------------------------------------
    def start(self, timeout=START_TIMEOUT):
        if self.module == "rwsgi" and not os.path.exists(self.module_path):
            raise FileNotFoundError(
                "mod_rwsgi not built: %s (set RWSGI_MODULE or run cargo build --release)"
                % self.module_path
            )
        for attempt in range(3):
            self.write_config()
            try:
                self._start_once(timeout)
                return self
            except _PortInUse:
                self.port = None  # another process grabbed it; pick a new one
        raise RuntimeError("could not find a free port for Apache")

    def _start_once(self, timeout):
        for p in (self.error_log_path, self.pid_path):
            if os.path.exists(p):
                os.unlink(p)
        out = open(self.stdout_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [APACHE_BIN, "-f", self.conf_path, "-DFOREGROUND"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._child_env(),
                start_new_session=True,  # own process group: killpg on cleanup
                preexec_fn=_enable_core_dumps,
            )
        finally:
            out.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                text = self._startup_diagnostics()
                self.proc = None
                self._kill_leftovers()
                if "Address already in use" in text:
                    raise _PortInUse()
                raise RuntimeError("Apache exited during startup:\n" + text)
            if self._can_connect():
                return
            if time.monotonic() > deadline:
                text = self._startup_diagnostics()
                self.stop(check_log=False)
                raise TimeoutError("Apache did not accept connections within %.0fs:\n%s" % (timeout, text))
            time.sleep(0.05)

    def _startup_diagnostics(self):
        parts = []
        for p in (self.stdout_path, self.error_log_path):
            if os.path.exists(p):
                with open(p, "r", errors="replace") as f:
                    parts.append("--- %s ---\n%s" % (p, f.read()[-8000:]))
        return "\n".join(parts)

    def _can_connect(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def stop(self, check_log=True, timeout=None):
        """Stop the server, wait, kill leftovers, then (optionally) check the error log.

        The stop is graceful (SIGWINCH, bounded by GracefulShutdownTimeout in the
        generated config): Debian's Apache 2.4.71 mpm_event occasionally crashes
        in its own child-exit path on a hard SIGTERM stop (seen about once in 60
        stops with no WSGI module loaded at all; the core shows only mpm_event and
        APR frames), which would otherwise read as a crash of the module under test.
        """
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGWINCH)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout if timeout is not None else self.stop_timeout)
                except subprocess.TimeoutExpired:
                    # Kill the children first so the parent reaps them (no zombies
                    # left to PID 1), then the parent.
                    for pid in self._our_pids():
                        if pid != self.proc.pid:
                            try:
                                os.kill(pid, signal.SIGKILL)
                            except ProcessLookupError:
                                pass
                    try:
                        self.proc.wait(3)
                    except subprocess.TimeoutExpired:
                        self.proc.kill()
                        self.proc.wait(5)
            self._kill_leftovers()
            self.proc = None
        if check_log:
            self.check_log()

    def _our_pids(self):
        """Pids of processes whose command line names our config file."""
        pids = []
        needle = self.conf_path.encode()
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if needle in f.read():
                        pids.append(int(d))
            except OSError:
                pass
        return pids

    def _kill_leftovers(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in self._our_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while self._our_pids() and time.monotonic() < deadline:
            time.sleep(0.05)

    def cleanup(self, keep=None):
        """Stop without log checks and remove the root (unless keep / RWSGI_TEST_KEEP=1)."""
        self.stop(check_log=False)
        if keep is None:
            keep = os.environ.get("RWSGI_TEST_KEEP") == "1"
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def graceful(self, timeout=START_TIMEOUT):
        """SIGUSR1 the parent and wait for a new 'resuming normal operations' line."""
        before = self.error_log().count("resuming normal operations")
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while self.error_log().count("resuming normal operations") <= before:
            if not self.running:
                raise RuntimeError("Apache exited during graceful restart:\n" + self.error_log()[-4000:])
            if time.monotonic() > deadline:
                raise TimeoutError("graceful restart not finished:\n" + self.error_log()[-4000:])
            time.sleep(0.05)
        while not self._can_connect():
            if time.monotonic() > deadline:
                raise TimeoutError("not accepting after graceful restart")
            time.sleep(0.05)

    def child_pids(self):
        """Pids of the parent's direct children (worker processes)."""
        out = []
        for pid in self._our_pids():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if self.proc and ppid == self.proc.pid:
                out.append(pid)
        return sorted(out)

    # ---- logs --------------------------------------------------------------
    def error_log(self, since=0):
        """Text of error.log from byte offset `since` (see log_mark())."""
        try:
            with open(self.error_log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_mark(self):
        """Current size of error.log; pass as since= to only look at newer lines."""
        try:
            return os.path.getsize(self.error_log_path)
        except FileNotFoundError:
            return 0

    def wait_for_log(self, regex, timeout=5.0, since=0):
        """Poll error.log until `regex` matches (re.M); returns the match."""
        pat = re.compile(regex, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = pat.search(self.error_log(since))
            if m:
                return m
            if time.monotonic() > deadline:
                raise TimeoutError(
                    "pattern %r not in error log; tail:\n%s" % (regex, self.error_log(since)[-4000:])
                )
            time.sleep(0.05)

    def log_lines(self, regex=None, since=0):
        lines = self.error_log(since).splitlines()
        if regex:
            pat = re.compile(regex)
            lines = [l for l in lines if pat.search(l)]
        return lines

    def check_log(self, patterns=None):
        """Assert that error.log has no crash/panic lines.

        A segmentation fault is excused only when its core file proves it is
        Apache's own known mpm_event exit crash (see known_apache_crash)."""
        pats = [re.compile(p) for p in (patterns if patterns is not None else self.bad_log_patterns)]
        bad = [l for l in self.error_log().splitlines() if any(p.search(l) for p in pats)]
        segfaults = [l for l in bad if "Segmentation fault" in l]
        if bad and len(segfaults) == len(bad):
            cores = glob.glob(self.path("cores", "core*"))
            if len(cores) >= len(segfaults) and all(known_apache_crash(c) for c in cores):
                sys.stderr.write("note: excused Apache's own mpm_event exit crash (core: %s)\n" % ", ".join(cores))
                bad = []
        assert not bad, "bad lines in %s:\n%s" % (self.error_log_path, "\n".join(bad))

    # ---- clients -------------------------------------------------------------
    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def request(self, method="GET", path="/", headers=None, body=None, raw=False, timeout=15.0):
        """Send one request.

        raw=False: via http.client; returns Response(status, headers, body) with
        .reason and .incomplete (True when the body was cut short).
        raw=True: hand-built HTTP/1.1 request with Connection: close over a plain
        socket, body sent as-is (no Content-Length added unless given); returns
        the ParsedResponse of what arrived until the server closed.
        """
        headers = dict(headers or {})
        if isinstance(body, str):
            body = body.encode("utf-8")
        if raw:
            lines = ["%s %s HTTP/1.1" % (method, path)]
            hl = {k.lower() for k in headers}
            if "host" not in hl:
                lines.append("Host: localhost")
            if "connection" not in hl:
                lines.append("Connection: close")
            lines += ["%s: %s" % kv for kv in headers.items()]
            data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
            return parse_response(self.raw_request(data, timeout=timeout), head=(method == "HEAD"))
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            incomplete = False
            try:
                data = r.read()
            except http.client.IncompleteRead as e:
                data, incomplete = e.partial, True
            resp = Response(r.status, list(r.getheaders()), data)
            resp.reason = r.reason
            resp.version = r.version
            resp.incomplete = incomplete
            return resp
        finally:
            conn.close()

    def get(self, path="/", **kw):
        return self.request("GET", path, **kw)

    def connect(self, timeout=10.0):
        """A RawConnection to the server."""
        return RawConnection(self.port, timeout)

    def raw_request(self, data, timeout=10.0, shutdown_write=False):
        """Send raw bytes, read until the server closes (or timeout); returns bytes."""
        with self.connect(timeout) as c:
            c.send(data)
            if shutdown_write:
                c.shutdown_write()
            try:
                return c.read_until_close(timeout)
            except TimeoutError as e:
                return e.args[1]

    # ---- context manager -------------------------------------------------------
    def __enter__(self):
        if not self.running:
            self.start()
        return self

    def __exit__(self, exc_type, *rest):
        try:
            self.stop(check_log=exc_type is None)
        finally:
            self.cleanup()


class _PortInUse(Exception):
    pass


def chunked(*parts, trailer=b""):
    """Encode parts (bytes/str) as a chunked request body."""
    out = b""
    for p in parts:
        if isinstance(p, str):
            p = p.encode()
        out += b"%x\r\n%s\r\n" % (len(p), p)
    return out + b"0\r\n" + trailer + b"\r\n"
