"""rwsgi-express: one command serving a WSGI application through the real Apache.

Every test runs target/release/rwsgi-express (env RWSGI_EXPRESS overrides),
which generates a server root and runs /usr/sbin/apache2 with mod_rwsgi.
The Django and Paste tests use a virtual environment made under /tmp (readable
by www-data) with Django and PasteDeploy from PyPI; it is kept between runs
(env RWSGI_EXPRESS_VENV names another one).
"""

import http.client
import json
import os
import pty
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import textwrap
import time

import pytest

from harness import APACHE_BIN, BAD_LOG_PATTERNS, REPO_ROOT, free_port, make_world_readable_dir, write_world_readable

EXPRESS = os.environ.get("RWSGI_EXPRESS", os.path.join(REPO_ROOT, "target", "release", "rwsgi-express"))
BUILD_MODULE = os.path.join(os.path.dirname(EXPRESS), "libmod_rwsgi.so")
VENV = os.environ.get("RWSGI_EXPRESS_VENV", "/tmp/rwsgi-express-test-venv")
TEST_USER = "rwsgi-express-test"

# A plain WSGI script reporting what the server made of the options.
INFO_APP = """\
import json, os, sys
import mod_wsgi

def application(environ, start_response):
    keys = ("SCRIPT_NAME", "PATH_INFO", "wsgi.url_scheme", "HTTPS", "MY_SETTING", "PASSED_ON",
            "mod_wsgi.process_group", "mod_wsgi.application_group", "wsgi.multiprocess", "wsgi.multithread",
            "REMOTE_USER", "HTTP_AUTHORIZATION", "REMOTE_ADDR", "SERVER_NAME")
    info = {k: environ.get(k) for k in keys}
    info.update(
        maximum_processes=mod_wsgi.maximum_processes,
        threads_per_process=mod_wsgi.threads_per_process,
        process_group=mod_wsgi.process_group,
        application_group=mod_wsgi.application_group,
        pid=os.getpid(), uid=os.getuid(), gid=os.getgid(), cwd=os.getcwd(), path=sys.path, prefix=sys.prefix,
        lang=os.environ.get("LANG"), lc_all=os.environ.get("LC_ALL"), home=os.environ.get("HOME"),
    )
    body = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
"""


def run_express(*args, env=None, user=None, timeout=60):
    cmd = [EXPRESS, *args]
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    full_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
    full_env.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)


def pids_using(conf):
    """Pids whose command line names this httpd.conf (Apache parent, children, daemons)."""
    out = []
    needle = conf.encode()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if needle in f.read():
                        out.append(int(d))
            except OSError:
                pass
    return out


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


class _PortTaken(Exception):
    pass


class Express:
    """One `rwsgi-express start-server` run, in its own session."""

    def __init__(self, args, port=None, root=None, user=None, env=None, cwd=None):
        self.port = port or free_port()
        self.user = user
        if root is None and user is None:
            root = tempfile.mkdtemp(prefix="rwsgi-express-test-", dir="/tmp")
        self.root = root
        self.args = ["start-server", *args, "--port", str(self.port)]
        if root:
            self.args += ["--server-root", root]
        self.env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
        self.env.update(env or {})
        self.cwd = cwd
        self.out = tempfile.TemporaryFile()
        self.proc = None
        self.bad_log_patterns = list(BAD_LOG_PATTERNS)

    @property
    def conf(self):
        return os.path.join(self.root, "httpd.conf")

    def start(self, timeout=20):
        for attempt in range(3):
            try:
                return self._start_once(timeout)
            except _PortTaken:
                # Another process on this shared machine took the free port
                # between free_port() and Apache's bind: take another one.
                self.port = free_port()
                i = self.args.index("--port")
                self.args[i + 1] = str(self.port)
                self.out.seek(0)
                self.out.truncate()
        raise RuntimeError("no free port")

    def _start_once(self, timeout):
        cmd = [EXPRESS, *self.args]
        if self.user and "--server-root" not in self.args:
            # Where the default server root will be (the test checks the printed one), so
            # that it is removed even when the start fails.
            import pwd
            self.root = "/tmp/rwsgi-express-localhost:%d:%d" % (self.port, pwd.getpwnam(self.user).pw_uid)
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.cwd, start_new_session=True)
        m = wait_for(lambda: re.search(r"serving (\S+) \(Apache pid (\d+), server root (.*)\)", self.output())
                     or self.proc.poll() is not None, timeout, "not serving:\n" + self.output())
        if m is True:
            if "already in use" in self.output():
                raise _PortTaken()
            raise RuntimeError("rwsgi-express exited (%s):\n%s" % (self.proc.returncode, self.output()))
        self.url, self.apache_pid, printed_root = m.group(1), int(m.group(2)), m.group(3)
        assert self.root is None or printed_root == self.root, (printed_root, self.root)
        self.root = printed_root
        return self

    def output(self):
        self.out.seek(0)
        return self.out.read().decode("utf-8", "replace")

    def error_log(self):
        if not self.root:
            return ""
        try:
            with open(os.path.join(self.root, "error_log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def request(self, path="/", method="GET", headers=None, body=None, port=None, https=False, context=None):
        if https:
            conn = http.client.HTTPSConnection("localhost", port, timeout=15, context=context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=15)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def json(self, path="/", **kw):
        status, _, body = self.request(path, **kw)
        assert status == 200, (status, body[:2000], self.error_log()[-3000:])
        return json.loads(body)

    def stop(self, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        if self.proc:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in pids_using(self.conf) if self.root else []:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc:
            self.proc.wait(5)
        return self.proc.returncode if self.proc else None

    def check_log(self):
        pats = [re.compile(p) for p in self.bad_log_patterns]
        bad = [l for l in self.error_log().splitlines() if any(p.search(l) for p in pats)]
        assert not bad, "bad lines in the error log:\n" + "\n".join(bad)


@pytest.fixture
def express(request):
    """Factory: express(args, ...) -> started Express; stopped and removed afterwards."""
    made = []

    def make(*args, start=True, **kw):
        e = Express(list(args), **kw)
        made.append(e)
        return e.start() if start else e

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for e in made:
        e.stop()
        if failed:
            request.node.add_report_section("teardown", "rwsgi-express output", e.output()[-4000:])
            request.node.add_report_section("teardown", "error_log", e.error_log()[-4000:])
        else:
            e.check_log()
        if e.root and os.environ.get("RWSGI_TEST_KEEP") != "1":
            shutil.rmtree(e.root, ignore_errors=True)


@pytest.fixture(scope="session")
def venv():
    """A virtual environment with Django and PasteDeploy (made once, kept under /tmp)."""
    py = os.path.join(VENV, "bin", "python")
    check = [py, "-c", "import django, paste.deploy"]
    if not os.path.exists(py) or subprocess.run(check, capture_output=True).returncode != 0:
        subprocess.run(["/usr/bin/python3", "-m", "venv", VENV], check=True)
        subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "-q", "django", "PasteDeploy"], check=True, timeout=300)
    subprocess.run(["chmod", "-R", "a+rX", VENV], check=True)
    return VENV


@pytest.fixture(scope="session")
def test_user():
    """An ordinary user to run rwsgi-express as."""
    if subprocess.run(["id", "-u", TEST_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER], check=True)
    return TEST_USER, int(subprocess.run(["id", "-u", TEST_USER], capture_output=True, text=True, check=True).stdout)


def write_app(app_dir, name="app.wsgi", text=INFO_APP):
    return app_dir.write(name, text)


# ---------------------------------------------------------------------------
# Frameworks and entry points


def write_flask_app(app_dir):
    return app_dir.write("flaskapp.py", """\
        import mod_wsgi
        from flask import Flask, request

        app = Flask(__name__)

        @app.route("/hello/<name>")
        def hello(name):
            return {"hello": name, "group": mod_wsgi.process_group, "threads": mod_wsgi.threads_per_process,
                    "processes": mod_wsgi.maximum_processes, "multithread": request.environ["wsgi.multithread"]}

        application = app
        """)


def test_flask_app_defaults_and_signals(express, app_dir):
    e = express(write_flask_app(app_dir))
    assert e.url == "http://localhost:%d/" % e.port
    status, headers, body = e.request("/hello/apache")
    assert status == 200, body
    # Defaults: a daemon group named localhost:PORT, 1 process, 5 threads.
    assert json.loads(body) == {"hello": "apache", "group": "localhost:%d" % e.port, "threads": 5, "processes": 1, "multithread": True}
    # Apache's children and the daemon run as www-data; the daemon is not an Apache child.
    daemon = pids_using("(rwsgi:localhost:%d:0)" % e.port)
    assert len(daemon) == 1, "no process named (rwsgi:localhost:PORT:0)"
    assert os.stat("/proc/%d" % daemon[0]).st_uid == int(subprocess.check_output(["id", "-u", "www-data"]))
    # SIGUSR1 -> graceful restart, SIGHUP -> restart, both passed on to Apache.
    e.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: e.error_log().count("resuming normal operations") >= 2, 10, "no graceful restart:\n" + e.error_log())
    e.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: e.error_log().count("resuming normal operations") >= 3, 10, "no restart:\n" + e.error_log())
    assert re.search(r"SIGUSR1 received.  Doing graceful restart(.|\n)*SIGHUP received.  Attempting to restart", e.error_log())
    assert wait_for(lambda: _status(e, "/hello/again") == 200, 10, "not serving after restart")
    assert e.stop() == 0
    assert not pids_using(e.conf), "Apache processes left after SIGTERM"
    assert "caught SIGTERM, shutting down" in e.error_log()


def _status(e, path):
    try:
        return e.request(path)[0]
    except OSError:
        return None


def test_options_reach_the_server(express, app_dir):
    work = make_world_readable_dir("rwsgi-express-work-")
    lib = make_world_readable_dir("rwsgi-express-lib-")
    try:
        app = write_app(app_dir, text=INFO_APP.replace("def application(", "def entry("))
        e = express(app, "--processes", "2", "--threads", "3", "--callable-object", "entry", "--mount-point", "/app",
                    "--working-directory", work, "--python-path", lib, "--setenv", "MY_SETTING", "two words",
                    "--passenv", "PASSED_ON", "--lang", "C.UTF-8", "--process-group", "mygroup",
                    "--maximum-requests", "4", "--host", "127.0.0.1", "--server-name", "app.example.test",
                    "--limit-request-body", "100", "--chunked-request", env={"PASSED_ON": "from the launcher"})
        assert e.url == "http://127.0.0.1:%d/app/" % e.port
        info = e.json("/app/x/y")
        assert e.request("/app", method="POST", body=b"x" * 101)[0] == 413  # --limit-request-body
        assert e.request("/app", method="POST", body=b"x" * 100)[0] == 200
        with socket.create_connection(("127.0.0.1", e.port), timeout=10) as c:  # --chunked-request
            c.sendall(b"POST /app HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                      b"2\r\nab\r\n0\r\n\r\n")
            assert c.recv(100).startswith(b"HTTP/1.1 200 ")
        assert (info["SCRIPT_NAME"], info["PATH_INFO"]) == ("/app", "/x/y")
        assert (info["maximum_processes"], info["threads_per_process"]) == (2, 3)
        assert info["wsgi.multiprocess"] is True
        assert info["process_group"] == info["mod_wsgi.process_group"] == "mygroup"
        assert info["application_group"] == ""  # %{GLOBAL}
        assert info["MY_SETTING"] == "two words"
        assert info["PASSED_ON"] == "from the launcher"
        assert info["cwd"] == work
        assert work in info["path"] and lib in info["path"]
        assert (info["lang"], info["lc_all"]) == ("C.UTF-8", "C.UTF-8")
        assert info["uid"] == int(subprocess.check_output(["id", "-u", "www-data"]))
        assert info["home"] == "/var/www"  # www-data's, set by apachectl (never root's)
        # maximum-requests=4: the two processes recycle after 4 requests each.
        pids = {e.json("/app")["pid"] for _ in range(12)}
        assert len(pids) > 2, pids
        assert e.request("/")[0] == 404  # outside the mount point: the (empty) document root
        with open(e.conf) as f:
            conf = f.read()
        assert "processes=2" in conf and "threads=3" in conf and "maximum-requests=4" in conf
        assert "ServerName app.example.test" in conf and "Listen 127.0.0.1:%d" % e.port in conf
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(lib, ignore_errors=True)


def test_embedded_mode(express, app_dir):
    e = express(write_app(app_dir), "--embedded-mode", "--threads", "3", "--server-mpm", "worker")
    info = e.json("/")
    assert info["process_group"] == "" and info["threads_per_process"] == 3
    assert info["pid"] in pids_using(e.conf)  # an Apache child
    assert "LoadModule mpm_worker_module" in open(e.conf).read()
    assert ":error]" not in e.error_log()  # e.g. AH10159, a badly sized MPM


def make_django_project(venv, parent):
    subprocess.run([os.path.join(venv, "bin", "django-admin"), "startproject", "mysite", parent], check=True)
    with open(os.path.join(parent, "mysite", "urls.py"), "a") as f:
        f.write(textwrap.dedent("""
            from django.http import JsonResponse
            import mod_wsgi, sys

            def info(request):
                return JsonResponse({"django": True, "group": mod_wsgi.process_group, "prefix": sys.prefix,
                                     "script_name": request.META["SCRIPT_NAME"]})

            urlpatterns.append(path("info/", info))
            """))
    subprocess.run(["chmod", "-R", "a+rX", parent], check=True)


def test_django_through_wsgi_py_and_as_module(express, venv, app_dir):
    make_django_project(venv, app_dir.path)
    # Through the project's wsgi.py, as a script.
    e = express(app_dir.join("mysite", "wsgi.py"), "--working-directory", app_dir.path, "--python-home", venv)
    info = e.json("/info/")
    assert info["django"] is True and info["prefix"] == venv and info["group"] == "localhost:%d" % e.port
    status, _, body = e.request("/")
    assert status == 404 and b"Django tried these URL patterns" in body  # Django's DEBUG 404 page
    e.stop()
    # The same project as an importable module, mounted below /site.
    e = express("--application-type", "module", "mysite.wsgi", "--working-directory", app_dir.path,
                "--python-home", venv, "--mount-point", "/site")
    info = e.json("/site/info/")
    assert info["django"] is True and info["script_name"] == "/site"
    handler = open(os.path.join(e.root, "handler.wsgi")).read()
    assert "import_module(\"mysite.wsgi\")" in handler


def write_pkgapp(app_dir):
    app_dir.write("pkgapp/__init__.py", "")
    app_dir.write("pkgapp/web.py", """\
        def make(greeting):
            def app(environ, start_response):
                body = ("%s from %s" % (greeting, environ["SCRIPT_NAME"] or "/")).encode()
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [body]
            return app

        wsgi = make("module")

        def factory(global_conf, greeting="?"):
            return make(greeting)
        """)
    return app_dir.write("site.ini", """\
        [app:main]
        use = call:pkgapp.web:factory
        greeting = paste
        """)


def test_module_with_callable_and_paste_entry_points(express, venv, app_dir):
    ini = write_pkgapp(app_dir)
    e = express("--application-type", "module", "pkgapp.web:wsgi", "--working-directory", app_dir.path)
    assert e.request("/")[2] == b"module from /"
    e.stop()
    e = express("--application-type", "paste", ini, "--python-home", venv)
    status, _, body = e.request("/")
    assert (status, body) == (200, b"paste from /")


def test_as_an_ordinary_user(express, app_dir, venv, test_user):
    user, uid = test_user
    # Flask, Django (as a module) and Paste, each served by Apache running as that user.
    e = express(write_flask_app(app_dir), user=user)
    try:
        status, _, body = e.request("/hello/user")
        assert status == 200 and json.loads(body)["group"] == "localhost:%d" % e.port
    finally:
        e.stop()
        shutil.rmtree(e.root, ignore_errors=True)
    django_dir = make_world_readable_dir("rwsgi-express-django-")
    try:
        make_django_project(venv, django_dir)
        e = express("--application-type", "module", "mysite.wsgi", "--working-directory", django_dir,
                    "--python-home", venv, user=user)
        try:
            assert e.json("/info/")["django"] is True
        finally:
            e.stop()
            shutil.rmtree(e.root, ignore_errors=True)
    finally:
        shutil.rmtree(django_dir, ignore_errors=True)
    e = express("--application-type", "paste", write_pkgapp(app_dir), "--python-home", venv, user=user)
    try:
        assert e.request("/")[2] == b"paste from /"
    finally:
        e.stop()
        shutil.rmtree(e.root, ignore_errors=True)
    e = express(write_app(app_dir), user=user)
    # The default server root, owned by that user, named like mod_wsgi-express's.
    assert e.root == "/tmp/rwsgi-express-localhost:%d:%d" % (e.port, uid)
    assert os.stat(e.root).st_uid == uid
    try:
        info = e.json("/")
        assert info["uid"] == uid and info["process_group"] == "localhost:%d" % e.port
        for pid in pids_using(e.conf):
            assert os.stat("/proc/%d" % pid).st_uid == uid  # Apache parent, children, daemon
        assert "User " not in open(e.conf).read()
    finally:
        e.stop()
        shutil.rmtree(e.root, ignore_errors=True)
    # Privileged ports and other users need root.
    r = run_express("start-server", write_app(app_dir), "--port", "80", user=user)
    assert r.returncode == 2 and "ports below 1024 need root" in r.stderr
    r = run_express("setup-server", write_app(app_dir), "--port", str(free_port()), "--user", "www-data", user=user)
    assert r.returncode == 2 and "only root can run Apache as another user" in r.stderr


def test_user_and_group_when_root(express, app_dir, test_user):
    user, uid = test_user
    e = express(write_app(app_dir), "--user", user, "--group", "www-data")
    info = e.json("/")
    assert (info["uid"], info["gid"]) == (uid, int(subprocess.check_output(["id", "-g", "www-data"])))
    children = [p for p in pids_using(e.conf) if p != e.apache_pid]
    assert children and all(os.stat("/proc/%d" % p).st_uid == uid for p in children)
    r = run_express("setup-server", write_app(app_dir), "--user", "root", "--server-root", e.root)
    assert r.returncode == 2 and "must not run as root" in r.stderr
    r = run_express("setup-server", write_app(app_dir), "--user", "no-such-user-here", "--server-root", e.root)
    assert r.returncode == 2 and "--user no-such-user-here: no such user" in r.stderr


def test_https_with_a_self_signed_certificate(express, app_dir):
    cert, key = app_dir.join("cert.pem"), app_dir.join("key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    os.chmod(key, 0o644)
    https_port = free_port()
    e = express(write_app(app_dir), "--https-port", str(https_port), "--ssl-certificate-file", cert,
                "--ssl-certificate-key-file", key, "--https-only", "--http2", "--hsts-policy", "max-age=60",
                "--ssl-certificate-chain-file", cert)
    assert "serving https://localhost:%d/" % https_port in e.output()
    ctx = ssl.create_default_context(cafile=cert)  # verified against the certificate made here
    status, headers, body = e.request("/secure", https=True, port=https_port, context=ctx)
    info = json.loads(body)
    assert headers["Strict-Transport-Security"] == "max-age=60"
    # mod_wsgi turns mod_ssl's HTTPS variable into wsgi.url_scheme and does not pass it on.
    assert status == 200 and info["wsgi.url_scheme"] == "https" and info["HTTPS"] is None
    # --http2: negotiated over TLS (ALPN).
    h2 = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "--http2", "--cacert", cert,
                         "https://localhost:%d/" % https_port], capture_output=True, text=True, timeout=15)
    assert h2.stdout == "2 200", (h2.stdout, h2.stderr)
    # --https-only: plain HTTP is redirected.
    status, headers, _ = e.request("/secure?q=1")
    assert status == 301 and headers["Location"] == "https://localhost:%d/secure?q=1" % https_port


def test_reload_on_changes(express, app_dir):
    app_dir.write("greeting.py", "TEXT = 'first'\n")
    script = app_dir.write("app.wsgi", """\
        import os, greeting

        def application(environ, start_response):
            body = ("%s %s %d" % (MARK, greeting.TEXT, os.getpid())).encode()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [body]

        MARK = "v1"
        """)
    e = express(script, "--reload-on-changes")
    mark, text, pid = e.request("/")[2].decode().split()
    assert (mark, text) == ("v1", "first")

    def bump(path, text):
        with open(path, "w") as f:
            f.write(text)
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))

    # An imported module changed: the daemon process restarts and imports it afresh.
    bump(app_dir.join("greeting.py"), "TEXT = 'second'\n")
    got = wait_for(lambda: (lambda b: b if b and b.split()[1] == "second" else None)(_body(e)), 20,
                   "module change not picked up:\n" + e.error_log())
    assert got.split()[2] != pid
    assert "greeting.py changed; restarting daemon process %s" % pid in e.error_log()
    # The script itself changed.
    with open(script) as f:
        src = f.read()
    bump(script, src.replace('MARK = "v1"', 'MARK = "v2"'))
    wait_for(lambda: (_body(e) or "").startswith("v2 second"), 20, "script change not picked up:\n" + e.error_log())


def _body(e):
    try:
        status, _, body = e.request("/")
        return body.decode() if status == 200 else None
    except OSError:
        return None


def test_setup_server_then_apachectl_start_and_stop(app_dir):
    root = tempfile.mkdtemp(prefix="rwsgi-express-setup-", dir="/tmp")
    port = free_port()
    try:
        logs = os.path.join(root, "logs")
        r = run_express("setup-server", write_app(app_dir), "--port", str(port), "--server-root", root, "--access-log",
                        "--log-directory", logs, "--error-log-name", "apache-errors.log")
        assert r.returncode == 0, r.stderr
        assert "Control script : %s/apachectl" % root in r.stdout
        for name in ("httpd.conf", "apachectl", "envvars"):
            assert os.path.isfile(os.path.join(root, name)), name
        assert os.access(os.path.join(root, "apachectl"), os.X_OK)
        with open(os.path.join(root, "envvars"), "a") as f:
            f.write("export MY_SETTING=from-envvars\n")
        ctl = os.path.join(root, "apachectl")
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        t = subprocess.run([ctl, "configtest"], capture_output=True, text=True, env=env)
        assert t.returncode == 0 and "Syntax OK" in t.stderr, t.stderr
        s = subprocess.run([ctl, "start"], capture_output=True, text=True, env=env, timeout=30)
        assert s.returncode == 0, s.stderr  # returns once Apache has gone to the background
        pid = int(wait_for(lambda: _read(os.path.join(root, "httpd.pid")), 10, "no pid file"))
        e = Express([], port=port, root=root)
        info = wait_for(lambda: _status(e, "/") == 200 and e.json("/"), 15, "not serving")
        assert info["process_group"] == "localhost:%d" % port
        # envvars is sourced: the daemon's process environment has the setting.
        assert "from-envvars" in open("/proc/%d/environ" % info["pid"], "rb").read().decode("latin-1")
        subprocess.run([ctl, "stop"], check=True, env=env, timeout=30)
        wait_for(lambda: not os.path.exists("/proc/%d" % pid), 15, "Apache did not stop")
        assert not pids_using(os.path.join(root, "httpd.conf"))
        assert re.search(r'"GET / HTTP/1.1" 200', _read(os.path.join(logs, "access_log")))
        assert "caught SIGTERM, shutting down" in _read(os.path.join(logs, "apache-errors.log"))
        # start-server --setup-only writes the same files and starts nothing.
        os.unlink(os.path.join(root, "httpd.conf"))
        # A pid file left by a server that died (here: naming pid 1) does not stop a start.
        with open(os.path.join(root, "httpd.pid"), "w") as f:
            f.write("1\n")
        e = Express([write_app(app_dir)], port=port, root=root).start()
        try:
            # A second start-server on the same server root names the running one.
            r = run_express("start-server", write_app(app_dir), "--port", str(free_port()), "--server-root", root)
            assert r.returncode == 2 and "Apache is already running for %s (pid %d)" % (root, e.apache_pid) in r.stderr
            assert "Listen %d" % port in open(os.path.join(root, "httpd.conf")).read()  # its configuration untouched
        finally:
            e.stop()
        r = run_express("start-server", write_app(app_dir), "--port", str(port), "--server-root", root, "--setup-only")
        assert r.returncode == 0 and os.path.isfile(os.path.join(root, "httpd.conf")) and not pids_using(os.path.join(root, "httpd.conf"))
        with socket.socket() as s:
            s.bind(("0.0.0.0", port))  # nothing listens there
    finally:
        for p in pids_using(os.path.join(root, "httpd.conf")):
            os.kill(p, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def test_ctrl_c_on_a_terminal_stops_the_server(app_dir):
    """On a terminal: logs to the terminal by default, and Ctrl-C stops Apache."""
    port = free_port()
    root = tempfile.mkdtemp(prefix="rwsgi-express-tty-", dir="/tmp")
    master, slave = pty.openpty()

    def controlling_terminal():
        os.setsid()
        import fcntl, termios
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([EXPRESS, "start-server", write_app(app_dir), "--port", str(port), "--server-root", root,
                             "--log-level", "info"],
                            stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_terminal,
                            env={"PATH": "/usr/bin:/bin", "LANG": "C"})
    os.close(slave)
    out = b""
    try:
        def read_until(pattern, timeout=20):
            nonlocal out
            deadline = time.monotonic() + timeout
            while not re.search(pattern, out):
                if time.monotonic() > deadline:
                    raise TimeoutError("%r not on the terminal:\n%s" % (pattern, out.decode(errors="replace")))
                import select
                if select.select([master], [], [], 0.2)[0]:
                    try:
                        out += os.read(master, 65536)
                    except OSError:
                        break
        read_until(rb"Ctrl-C stops the server")
        assert not os.path.exists(os.path.join(root, "error_log"))  # logs go to the terminal
        read_until(rb"resuming normal operations")  # Apache's own log line, on the terminal
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
        os.write(master, b"\x03")  # Ctrl-C
        read_until(rb"caught SIGTERM, shutting down")
        assert proc.wait(15) == 0
        assert not pids_using(os.path.join(root, "httpd.conf"))
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in pids_using(os.path.join(root, "httpd.conf")):
            os.kill(p, signal.SIGKILL)
        os.close(master)
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------
# Static files and Apache features


def test_static_files_compression_status_and_access_log(express, app_dir):
    docs = make_world_readable_dir("rwsgi-express-docs-")
    try:
        write_world_readable(os.path.join(docs, "robots.txt"), "User-agent: *\n")
        write_world_readable(os.path.join(docs, "sub", "index.html"), "<p>index</p>\n")
        assets = make_world_readable_dir("rwsgi-express-assets-")
        write_world_readable(os.path.join(assets, "style.css"), "body { color: red; }\n" * 50)
        e = express(write_app(app_dir), "--document-root", docs, "--directory-index", "index.html",
                    "--url-alias", "/assets", assets, "--compress-responses", "--server-status", "--access-log",
                    "--rotate-logs")
        assert e.request("/robots.txt")[2] == b"User-agent: *\n"  # an existing file: static
        assert e.request("/sub/")[2] == b"<p>index</p>\n"  # directory index
        assert e.json("/not-a-file")["PATH_INFO"] == "/not-a-file"  # anything else: the application
        status, headers, body = e.request("/assets/style.css", headers={"Accept-Encoding": "gzip"})
        assert status == 200 and headers.get("Content-Encoding") == "gzip"
        import gzip
        assert gzip.decompress(body) == b"body { color: red; }\n" * 50
        status, headers, body = e.request("/", headers={"Accept-Encoding": "gzip"})
        assert headers.get("Content-Encoding") == "gzip" and json.loads(gzip.decompress(body))["SCRIPT_NAME"] == ""
        status, _, body = e.request("/server-status?auto")
        assert status == 200 and b"ServerUptime" in body
        # --rotate-logs: rotatelogs writes time-stamped files.
        import glob
        logs = wait_for(lambda: glob.glob(os.path.join(e.root, "access_log.20*")), 5, "no rotated access log")
        assert '"GET /robots.txt HTTP/1.1" 200' in wait_for(lambda: _read(logs[0]), 5, "empty access log")
        assert glob.glob(os.path.join(e.root, "error_log.20*"))
    finally:
        shutil.rmtree(docs, ignore_errors=True)
        shutil.rmtree(assets, ignore_errors=True)


def test_generated_configurations_pass_apache_t(app_dir):
    cert, key = app_dir.join("cert.pem"), app_dir.join("key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    app = write_app(app_dir)
    include = app_dir.write("extra.conf", "Header always set X-Extra yes\n")
    rules = app_dir.write("rules.conf", "RewriteRule ^/old$ /new [R=302,L]\n")
    variants = [
        [],
        ["--embedded-mode", "--server-mpm", "prefork", "--processes", "2", "--threads", "2"],
        ["--server-mpm", "worker", "--max-clients", "40", "--keep-alive-timeout", "0", "--limit-request-body", "1000",
         "--request-timeout", "30", "--queue-timeout", "10", "--connect-timeout", "5", "--socket-timeout", "20",
         "--startup-timeout", "10", "--shutdown-timeout", "3", "--graceful-timeout", "5", "--inactivity-timeout", "60",
         "--restart-interval", "3600", "--maximum-requests", "100", "--memory-limit", "500000000",
         "--header-buffer-size", "65536", "--response-buffer-size", "1048576", "--send-buffer-size", "65536",
         "--receive-buffer-size", "65536", "--cpu-time-limit", "600", "--deadlock-timeout", "30",
         "--interrupt-timeout", "5", "--header-timeout", "0", "--body-timeout", "30", "--chunked-request",
         "--enable-sendfile", "--error-document", "404", "/missing.html",
         "--access-log", "--access-log-format", "combined", "--error-log-format", "[%t] [%l] %M",
         "--envvars-script", include],
        ["--https-port", str(free_port()), "--ssl-certificate-file", cert, "--ssl-certificate-key-file", key,
         "--https-only", "--http2", "--rotate-logs", "--access-log", "--log-level", "info", "--compress-responses",
         "--server-status", "--rewrite-rules", rules, "--include-file", include, "--server-name", "www.example.test",
         "--host", "127.0.0.1", "--url-alias", "/a", app_dir.path, "--document-root", app_dir.path],
        ["--application-type", "module", "os.path:join", "--working-directory", app_dir.path, "--log-to-terminal"],
    ]
    for args in variants:
        root = tempfile.mkdtemp(prefix="rwsgi-express-t-", dir="/tmp")
        try:
            entry = [] if "--application-type" in args else [app]
            r = run_express("setup-server", *entry, *args, "--port", str(free_port()), "--server-root", root)
            assert r.returncode == 0, (args, r.stderr)
            conf = os.path.join(root, "httpd.conf")
            if "--include-file" in args:
                # The included file uses mod_headers: load it there, as a user would.
                with open(include, "w") as f:
                    f.write("LoadModule headers_module /usr/lib/apache2/modules/mod_headers.so\nHeader always set X-Extra yes\n")
            t = subprocess.run([APACHE_BIN, "-t", "-f", conf], capture_output=True, text=True)
            assert t.returncode == 0 and "Syntax OK" in t.stderr, (args, t.stderr, open(conf).read())
        finally:
            shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------
# Options generating directives of issue 9 (WSGIAuthUserScript, WSGIAccessScript,
# WSGITrustedProxies, WSGITrustedProxyHeaders)


def test_auth_user_script(express, app_dir):
    auth = app_dir.write("auth.py", """\
        def check_password(environ, user, password):
            if user == "alice":
                return password == "secret"
            return None
        """)
    e = express(write_app(app_dir), "--auth-user-script", auth)
    import base64

    def basic(user, password):
        return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}

    status, headers, _ = e.request("/")
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="localhost:%d"' % e.port
    assert e.request("/", headers=basic("alice", "wrong"))[0] == 401
    assert e.request("/", headers=basic("bob", "secret"))[0] == 401
    info = e.json("/", headers=basic("alice", "secret"))
    assert info["REMOTE_USER"] == "alice"


def test_host_access_script(express, app_dir):
    access = app_dir.write("access.py", """\
        def allow_access(environ, host):
            return environ.get("HTTP_X_LET_ME_IN") == "yes"
        """)
    e = express(write_app(app_dir), "--host-access-script", access)
    assert e.request("/")[0] == 403
    assert e.json("/", headers={"X-Let-Me-In": "yes"})["SCRIPT_NAME"] == ""


def test_trust_proxy(express, app_dir):
    e = express(write_app(app_dir), "--trust-proxy", "127.0.0.1", "--trust-proxy-header", "X-Forwarded-For",
                "--trust-proxy-header", "X-Forwarded-Proto")
    info = e.json("/", headers={"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"})
    assert info["REMOTE_ADDR"] == "203.0.113.5" and info["wsgi.url_scheme"] == "https"
    assert e.json("/")["REMOTE_ADDR"] == "127.0.0.1"


# ---------------------------------------------------------------------------
# Errors


def test_error_port_in_use(app_dir):
    root = tempfile.mkdtemp(prefix="rwsgi-express-busy-", dir="/tmp")
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_express("start-server", write_app(app_dir), "--port", str(port), "--server-root", root)
    assert r.returncode == 2
    assert "port %d is already in use on all interfaces" % port in r.stderr
    # Apache's `Listen PORT` also takes [::]:PORT: an IPv6-only listener there is in the way too.
    with socket.socket(socket.AF_INET6) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(("::", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_express("start-server", write_app(app_dir), "--port", str(port), "--server-root", root)
    shutil.rmtree(root)
    assert r.returncode == 2 and "port %d is already in use" % port in r.stderr


def test_error_application_fails_to_import(express, app_dir):
    app = app_dir.write("broken.wsgi", """\
        import json
        import module_that_is_not_there

        def application(environ, start_response):
            pass
        """)
    e = express(app, "--log-to-terminal")
    e.bad_log_patterns = []
    # Loaded at start (WSGIImportScript): the traceback reaches the terminal without a request.
    wait_for(lambda: "No module named 'module_that_is_not_there'" in e.output(), 15, "no traceback:\n" + e.output())
    assert "Traceback" in e.output() and 'broken.wsgi", line 2' in e.output()
    assert e.request("/")[0] == 500


def test_error_missing_virtualenv_apache_and_modules(app_dir):
    app = write_app(app_dir)
    root = tempfile.mkdtemp(prefix="rwsgi-express-err-", dir="/tmp")
    try:
        def setup(*args):
            return run_express("setup-server", app, "--server-root", root, "--port", str(free_port()), *args)

        r = setup("--python-home", "/tmp/no-such-venv")
        assert r.returncode == 2 and "--python-home /tmp/no-such-venv: no virtual environment there" in r.stderr
        other = make_world_readable_dir("rwsgi-express-venv312-")
        os.makedirs(os.path.join(other, "lib", "python3.12", "site-packages"))
        write_world_readable(os.path.join(other, "pyvenv.cfg"), "version = 3.12.1\n")
        r = setup("--python-home", other)
        shutil.rmtree(other)
        assert r.returncode == 2 and "made with python3.12, but mod_rwsgi embeds /usr/bin/python3 (python3.11)" in r.stderr
        # A planted symbolic link is not a server root.
        link = root + "-link"
        os.symlink("/etc", link)
        r = run_express("setup-server", app, "--server-root", link)
        os.unlink(link)
        assert r.returncode == 2 and "is a symbolic link; refusing" in r.stderr
        r = setup("--lang", "xx_YY.UTF-8")
        assert r.returncode == 2 and "--lang xx_YY.UTF-8: this locale is not installed" in r.stderr
        r = setup("--httpd-executable", "/tmp/no-such/apache2")
        assert r.returncode == 2 and "Apache is not installed" in r.stderr and "apache2" in r.stderr
        # A modules directory without mod_ssl/mod_http2 (as on a trimmed system).
        mods = make_world_readable_dir("rwsgi-express-mods-")
        for f in os.listdir("/usr/lib/apache2/modules"):
            if f not in ("mod_ssl.so", "mod_http2.so"):
                os.symlink(os.path.join("/usr/lib/apache2/modules", f), os.path.join(mods, f))
        cert = app  # any existing file: the module check comes first
        r = setup("--modules-directory", mods, "--https-port", str(free_port()), "--ssl-certificate-file", cert,
                  "--ssl-certificate-key-file", cert)
        assert r.returncode == 2 and "--https-port needs Apache's mod_ssl.so" in r.stderr and "apache2-bin" in r.stderr
        r = setup("--modules-directory", mods, "--http2")
        assert r.returncode == 2 and "--http2 needs Apache's mod_http2.so" in r.stderr
        shutil.rmtree(mods)
        r = run_express("setup-server", "--application-type", "module", "not a module", "--server-root", root)
        assert r.returncode == 2 and "is not a module name" in r.stderr
        r = run_express("start-server", "/tmp/no-such-app.wsgi")
        assert r.returncode == 2 and "WSGI script not found: /tmp/no-such-app.wsgi" in r.stderr
        # Unreadable for www-data (as anything under /root would be): refused before Apache starts.
        private = tempfile.mkdtemp(prefix="rwsgi-express-private-", dir="/tmp")  # mode 0700
        shutil.copy(app, os.path.join(private, "app.wsgi"))
        r = run_express("setup-server", os.path.join(private, "app.wsgi"), "--server-root", root)
        shutil.rmtree(private)
        assert r.returncode == 2 and "Apache's children run as 'www-data' and cannot read it" in r.stderr
        r = run_express("start-server", app, "--prot", "1")
        assert r.returncode == 2 and "unknown option '--prot'" in r.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------
# Module commands


def test_module_location_config_and_install(tmp_path):
    r = run_express("module-location")
    assert r.returncode == 0 and r.stdout.strip() == os.path.realpath(BUILD_MODULE)
    r = run_express("module-config")
    assert r.stdout.strip() == "LoadModule rwsgi_module %s" % os.path.realpath(BUILD_MODULE)
    r = run_express("module-location", env={"RWSGI_EXPRESS_MODULE": "/tmp/nope.so"})
    assert r.returncode == 2 and "no module file at /tmp/nope.so" in r.stderr
    # install-module copies into `apxs -q LIBEXECDIR`; a binary outside the build tree then finds it there.
    libexec = subprocess.check_output(["apxs", "-q", "LIBEXECDIR"], text=True).strip()
    dest = os.path.join(libexec, "mod_rwsgi.so")
    saved = None
    if os.path.exists(dest):
        saved = tmp_path / "saved.so"
        shutil.copy2(dest, saved)
    try:
        r = run_express("install-module")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "LoadModule rwsgi_module %s" % dest
        assert open(dest, "rb").read() == open(BUILD_MODULE, "rb").read()
        bindir = make_world_readable_dir("rwsgi-express-bin-")
        shutil.copy(EXPRESS, bindir)
        loc = subprocess.run([os.path.join(bindir, "rwsgi-express"), "module-location"], capture_output=True, text=True)
        shutil.rmtree(bindir)
        assert loc.stdout.strip() == dest
    finally:
        if saved:
            shutil.copy2(saved, dest)
        else:
            os.unlink(dest)
