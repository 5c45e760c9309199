"""Real configurations, switched from mod_wsgi by changing only how the module
is loaded (issue 9). Each fixture under tests/configs/ is the shape a tool or
a documentation page writes; it is served by mod_rwsgi and, as the oracle, by
Debian's mod_wsgi 4.9.4, and both must load it and answer every request the
same way (status and body; the body reports what the application saw).

The two mod_wsgi-express configurations are generated at test time by the
mod_wsgi-express of `pip install mod_wsgi` (a virtualenv cached per session)."""

import http.client
import json
import os
import shutil
import subprocess

import pytest

from harness import REPO_ROOT, TESTS_DIR, ApacheServer, free_port, make_world_readable_dir, rwsgi_module_path, write_world_readable

CONFIGS = os.path.join(TESTS_DIR, "configs")

# What the application saw, with nothing that differs from run to run.
FACTS = r'''
import json, os, pwd, sys

def facts(environ):
    return {
        "script_name": environ["SCRIPT_NAME"],
        "path_info": environ["PATH_INFO"],
        "method": environ["REQUEST_METHOD"],
        "query": environ.get("QUERY_STRING", ""),
        "process_group": environ["mod_wsgi.process_group"],
        "application_group": environ["mod_wsgi.application_group"],
        "user": pwd.getpwuid(os.geteuid()).pw_name,
        "cwd": os.getcwd(),
        "prefix": sys.prefix,
        "authorization": environ.get("HTTP_AUTHORIZATION"),
        "paths": [p for p in sys.path if p.startswith(ROOT)],
        "extra": EXTRA,
    }

def application(environ, start_response):
    body = json.dumps(facts(environ), sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
'''


def facts_app(root_marker, extra="None", prefix=""):
    return prefix + "ROOT = %r\nEXTRA = %s\n" % (root_marker, extra) + FACTS


@pytest.fixture(scope="session")
def venv():
    """A virtualenv of Debian's Python that sees its packages (Flask), for
    WSGIPythonHome / python-home=; made once per session."""
    d = make_world_readable_dir(prefix="rwsgi-venv-")
    path = os.path.join(d, "venv")
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", "--without-pip", path], check=True)
    yield path
    shutil.rmtree(d, ignore_errors=True)


def fixture_text(name):
    with open(os.path.join(CONFIGS, name)) as f:
        return f.read()


class Shape:
    """One configuration: its files, how the server is set up, the requests."""

    def __init__(self, conf, files, requests, vport=False, extra_modules=(), setup=None):
        self.conf, self.files, self.requests = conf, files, requests
        self.vport, self.extra_modules, self.setup = vport, list(extra_modules), setup


def django_files(root):
    return {
        "mysite.com/mysite/__init__.py": "",
        "mysite.com/mysite/settings.py": "NAME = 'mysite settings'\n",
        # Django's generated wsgi.py imports the project package from the path
        # WSGIPythonPath / python-path= adds.
        "mysite.com/mysite/wsgi.py": facts_app(root, "SETTINGS.NAME", "import mysite.settings as SETTINGS\n"),
    }


FLASK_APP = '''
import sys
sys.path.insert(0, %(dir)r)
from yourapplication import app as application
'''

FLASK_PACKAGE = r'''
import flask
from facts import facts

app = flask.Flask(__name__)

@app.route("/", defaults={"path": ""})
@app.route("/<path:path>")
def index(path):
    return flask.jsonify(facts(flask.request.environ))
'''

SHAPES = {
    "django": Shape(
        "django.conf",
        lambda root: django_files(root),
        [("GET", "/polls/?page=2", {}), ("GET", "/daemon/admin/", {})],
    ),
    "flask": Shape(
        "flask.conf",
        lambda root: {
            "yourapplication/yourapplication.wsgi": FLASK_APP % {"dir": root + "/yourapplication"},
            "yourapplication/yourapplication/__init__.py": FLASK_PACKAGE,
            "yourapplication/facts.py": facts_app(root, "'flask'"),
        },
        [("GET", "/", {}), ("GET", "/hello/world", {})],
    ),
    "two_vhosts_two_users": Shape(
        "two_vhosts_two_users.conf",
        lambda root: {"site-a/app.wsgi": facts_app(root, "'a'"), "site-b/app.wsgi": facts_app(root, "'b'")},
        [("GET", "/", {"Host": "site-a.example"}), ("GET", "/x", {"Host": "site-b.example"})],
    ),
    "keystone": Shape(
        "keystone.conf",
        lambda root: {"bin/keystone-wsgi-public": facts_app(root, "'keystone'")},
        [("GET", "vport:/v3", {"Authorization": "Basic a2V5OnN0b25l"}), ("GET", "/identity/v3/auth/tokens", {"Authorization": "Basic a2V5OnN0b25l"})],
        vport=True,
    ),
    "puppet_wsgi": Shape(
        "puppet_wsgi.conf",
        lambda root: {"wsgi/demo.wsgi": facts_app(root, "'puppet'"), "lib/.keep": "", "run/.keep": "", "htdocs/index.html": "static\n"},
        [("GET", "/wsgi/demo", {"Host": "puppet.example", "Authorization": "Bearer t"}), ("GET", "/index.html", {"Host": "puppet.example"})],
    ),
    "hestiacp": Shape(
        "hestiacp.conf",
        lambda root: {"public_html/app.wsgi": facts_app(root, "'hestia'")},
        [("GET", "/", {"Host": "hestia.example"}), ("GET", "/some/page", {"Host": "hestia.example"}), ("GET", "/app.wsgi", {"Host": "hestia.example"})],
        extra_modules=[("rewrite_module", "mod_rewrite.so")],
    ),
    "rhel_quoted": Shape(
        "rhel_quoted.conf",
        lambda root: {"myapp/myapp.wsgi": facts_app(root, "'rhel'"), "run/.keep": ""},
        [("GET", "/myapp", {}), ("GET", "/myapp/page", {})],
    ),
    "rhel_unquoted": Shape(
        "rhel_unquoted.conf",
        lambda root: {"myapp/myapp.wsgi": facts_app(root, "'rhel'"), "run/.keep": ""},
        [("GET", "/myapp", {}), ("GET", "/myapp/page", {})],
    ),
}


def request(srv, vport, method, path, headers):
    port = srv.port
    if path.startswith("vport:"):
        port, path = vport, path[len("vport:"):]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def serve_shape(apache, module, shape, venv, text=None):
    vport = free_port() if shape.vport else None
    text = text if text is not None else fixture_text(shape.conf)
    srv = apache("", module=module, start=False, mode="embedded", extra_modules=shape.extra_modules)
    files = shape.files(srv.root)
    for name, content in files.items():
        srv.write_file(name, content, dedent=False)
    if shape.setup:
        shape.setup(srv)
    srv.extra_config = text.replace("{venv}", venv).replace("{vport}", str(vport))
    srv.start()
    answers = []
    for method, path, headers in shape.requests:
        status, body = request(srv, vport, method, path, headers)
        text = body.decode("latin-1").replace(srv.root, "{root}").replace(":%d" % srv.port, ":{port}")
        answers.append((path, status, text))
    return srv, answers


def check_answers(srv, answers):
    for path, status, body in answers:
        assert status == 200, (srv.module, path, status, body[:300], srv.error_log()[-3000:])
        assert "def application" not in body and "import " not in body, (srv.module, path, body[:300])
        if path.endswith(".html"):
            assert body == "static\n"  # a static file next to the application
        else:
            assert json.loads(body)["method"] == "GET"


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shape_loads_and_answers_as_mod_wsgi(apache, venv, name):
    shape = SHAPES[name]
    srv, ours = serve_shape(apache, "rwsgi", shape, venv)
    check_answers(srv, ours)
    oracle_srv, theirs = serve_shape(apache, "wsgi", shape, venv)
    check_answers(oracle_srv, theirs)
    assert ours == theirs


def test_specific_facts_of_the_shapes(apache, venv):
    """What each shape is about, beyond agreeing with mod_wsgi."""
    def facts_of(name, index):
        _, answers = serve_shape(apache, "rwsgi", SHAPES[name], venv)
        return json.loads(answers[index][2])

    users = [facts_of("two_vhosts_two_users", i)["user"] for i in (0, 1)]
    assert users == ["www-data", "daemon"]
    keystone = facts_of("keystone", 0)
    assert (keystone["process_group"], keystone["authorization"]) == ("keystone-public", "Basic a2V5OnN0b25l")
    puppet = facts_of("puppet_wsgi", 0)
    # WSGIPythonHome inside <IfModule mod_wsgi.c> applied (and, as in mod_wsgi,
    # WSGIPythonPath is for Apache's children, not daemon groups).
    assert puppet["prefix"] == venv and puppet["paths"] == []
    rhel = facts_of("rhel_quoted", 0)
    assert (rhel["process_group"], rhel["cwd"]) == ("myapp", "{root}/myapp")
    django = facts_of("django", 1)
    assert (django["process_group"], django["extra"], django["prefix"]) == ("example.com", "mysite settings", venv)


def debian_layout(srv, module):
    """/etc/apache2's shape under the server root: the enabled module's .load
    and .conf as Debian's packages ship them, and the site."""
    etc = srv.path("etc")
    if module == "rwsgi":
        # `a2dismod wsgi; a2enmod rwsgi`: this repository's conf/rwsgi.{load,conf},
        # with the module path of the build under test.
        with open(os.path.join(REPO_ROOT, "conf", "rwsgi.load")) as f:
            load = f.read().replace("/usr/lib/apache2/modules/mod_rwsgi.so", rwsgi_module_path())
        with open(os.path.join(REPO_ROOT, "conf", "rwsgi.conf")) as f:
            conf = f.read()
        names = ("rwsgi.load", "rwsgi.conf")
    else:
        with open("/etc/apache2/mods-available/wsgi.load") as f:
            load = f.read()
        with open("/etc/apache2/mods-available/wsgi.conf") as f:
            conf = f.read()
        names = ("wsgi.load", "wsgi.conf")
    write_world_readable(os.path.join(etc, "mods-enabled", names[0]), load, dedent=False)
    write_world_readable(os.path.join(etc, "mods-enabled", names[1]), conf, dedent=False)
    write_world_readable(os.path.join(etc, "sites-enabled", "site.conf"), srv.substitute(fixture_text("debian/site.conf")), dedent=False)


@pytest.mark.parametrize("module", ["rwsgi", "wsgi"])
def test_debian_layout_after_a2enmod(apache, module):
    srv = apache(fixture_text("debian/apache2.conf"), module=module, start=False, mode="embedded",
                 load_module=False, loglevel="info")
    srv.write_file("srv/site.wsgi", facts_app(srv.root, "'debian'"), dedent=False)
    srv.write_config()  # fixes the port that site.conf names
    debian_layout(srv, module)
    srv.start()
    status, body = request(srv, None, "GET", "/page", {"Host": "debian.example"})
    assert status == 200, (status, body[:300], srv.error_log()[-3000:])
    assert json.loads(body)["process_group"] == "debian-site"


# ---- mod_wsgi-express -------------------------------------------------------

EXPRESS_VENV = "/tmp/rwsgi-test-express-venv"


@pytest.fixture(scope="session")
def express():
    """mod_wsgi-express from PyPI (built against apache2-dev), in a virtualenv
    kept between sessions; skipped only when PyPI cannot be reached."""
    exe = os.path.join(EXPRESS_VENV, "bin", "mod_wsgi-express")
    if not os.path.exists(exe):
        subprocess.run(["/usr/bin/python3", "-m", "venv", EXPRESS_VENV], check=True)
        pip = subprocess.run([os.path.join(EXPRESS_VENV, "bin", "pip"), "install", "-q", "mod_wsgi"],
                             capture_output=True, text=True, timeout=900)
        if pip.returncode != 0:
            shutil.rmtree(EXPRESS_VENV, ignore_errors=True)
            if "Could not find a version" in pip.stderr or "NewConnectionError" in pip.stderr:
                pytest.skip("PyPI is not reachable: %s" % pip.stderr[-300:])
            raise AssertionError("pip install mod_wsgi failed:\n" + pip.stderr[-3000:])
        os.chmod(EXPRESS_VENV, 0o755)
    return exe


def express_server(express, module, embedded):
    root = make_world_readable_dir(prefix="rwsgi-express-")
    port = free_port()
    app = write_world_readable(os.path.join(root, "app.wsgi"), facts_app(os.path.join(root, "server"), "'express'"), dedent=False)
    args = [express, "setup-server", app, "--port", str(port), "--host", "127.0.0.1", "--server-root",
            os.path.join(root, "server"), "--user", "www-data", "--group", "www-data", "--log-level", "info"]
    if embedded:
        args.append("--embedded-mode")
    subprocess.run(args, check=True, capture_output=True, text=True)
    conf = os.path.join(root, "server", "httpd.conf")
    with open(conf) as f:
        text = f.read()
    if module == "rwsgi":
        # The one line a site changes: which module file LoadModule loads.
        lines = text.splitlines()
        loads = [i for i, l in enumerate(lines) if l.startswith("LoadModule wsgi_module ")]
        assert len(loads) == 1, loads
        lines[loads[0]] = "LoadModule wsgi_module '%s'" % rwsgi_module_path()
        text = "\n".join(lines) + "\n"
        with open(conf, "w") as f:
            f.write(text)
    for d, _, files in os.walk(root):
        os.chmod(d, 0o755)
        for name in files:
            os.chmod(os.path.join(d, name), 0o755 if name == "apachectl" else 0o644)
    return root, port


@pytest.mark.parametrize("embedded", [False, True], ids=["daemon", "embedded"])
@pytest.mark.parametrize("module", ["rwsgi", "wsgi"])
def test_mod_wsgi_express_config(express, module, embedded):
    if module == "rwsgi" and not knows_directive("WSGIHandlerScript x /dev/null"):
        # mod_wsgi-express routes every request with WSGIHandlerScript, which
        # another part of issue 9 adds; until it lands this cannot pass. The
        # check above turns this test on by itself once the directive exists.
        pytest.xfail("mod_rwsgi does not have WSGIHandlerScript yet (issue 9, handler scripts)")
    root, port = express_server(express, module, embedded)
    apachectl = os.path.join(root, "server", "apachectl")
    started = subprocess.run([apachectl, "start"], capture_output=True, text=True, timeout=60)
    try:
        assert started.returncode == 0, started.stdout + started.stderr + error_log(root)
        body = None
        for _ in range(100):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/express/path?q=1")
                resp = conn.getresponse()
                status, body = resp.status, resp.read()
                break
            except OSError:
                import time
                time.sleep(0.1)
        assert body is not None, error_log(root)
        assert status == 200, (status, body[:300], error_log(root))
        facts = json.loads(body)
        assert (facts["path_info"], facts["query"], facts["extra"]) == ("/express/path", "q=1", "express")
        assert facts["process_group"] == ("" if embedded else "127.0.0.1:%d" % port)
    finally:
        subprocess.run([apachectl, "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def knows_directive(line):
    """Whether mod_rwsgi accepts `line` (an `apache2 -t` of a server with it)."""
    srv = ApacheServer(module="rwsgi", config=line, mode="embedded")
    try:
        rc, out = srv.config_test()
    finally:
        srv.cleanup()
    return "Invalid command" not in out


def error_log(root):
    path = os.path.join(root, "server", "error_log")
    return open(path).read()[-3000:] if os.path.exists(path) else "(no error log)"
