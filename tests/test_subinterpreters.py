"""Application groups as Python sub-interpreters (issue 11): %{GLOBAL} is the
main interpreter, every other group (by default %{RESOURCE}: host, port and
mount point) an interpreter of its own in each process, in both modes."""

import json
import re

import pytest

import harness

# The both_modes tests are rerun in daemon mode (see conftest.py).
both_modes = pytest.mark.both_modes

# An app that imports a module called `config` from its own directory.
CONFIG_APP = """
import json, os, sys, threading, mod_wsgi
sys.path.insert(0, os.path.dirname(__file__))
import config
local = threading.local()
counter = [0]
def application(environ, start_response):
    counter[0] += 1
    local.n = getattr(local, "n", 0) + 1
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"config": config.NAME, "group": environ["mod_wsgi.application_group"],
                        "module_group": mod_wsgi.application_group, "modules": id(sys.modules),
                        "counter": counter[0], "local": local.n, "pid": os.getpid()}).encode()]
"""


def two_apps(srv, extra=""):
    for name in ("one", "two"):
        srv.write_file("%s/config.py" % name, "NAME = %r\n" % name)
        srv.write_file("%s/app.wsgi" % name, CONFIG_APP)


@both_modes
def test_two_apps_each_see_their_own_config_module(apache):
    srv = apache("WSGIScriptAlias /one {root}/one/app.wsgi\nWSGIScriptAlias /two {root}/two/app.wsgi\n", start=False)
    two_apps(srv)
    srv.start()
    for _ in range(3):
        one, two = srv.get("/one").json(), srv.get("/two").json()
        assert one["config"] == "one" and two["config"] == "two"
        host = one["group"].split("|")[0]
        assert one["group"] == host + "|/one" and two["group"] == host + "|/two"
        assert one["module_group"] == one["group"] and two["module_group"] == two["group"]
        if one["pid"] == two["pid"]:
            assert one["modules"] != two["modules"]


MPMS = ["event", "worker", "prefork"]

# The same script file mounted in two groups: module globals and
# threading.local are the interpreter's.
STATE_APP = """
import json, os, threading
local = threading.local()
counter = [0]
def application(environ, start_response):
    group = environ["mod_wsgi.application_group"]
    counter[0] += 1
    local.groups = getattr(local, "groups", set()) | {group}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"pid": os.getpid(), "counter": counter[0], "groups": sorted(local.groups),
                        "thread": threading.get_ident()}).encode()]
"""


@both_modes
@pytest.mark.parametrize("mpm", MPMS)
def test_config_modules_globals_and_threading_local_apart(apache, mpm):
    srv = apache(
        "WSGIScriptAlias /one {root}/one/app.wsgi\nWSGIScriptAlias /two {root}/two/app.wsgi\n"
        "WSGIScriptAlias /a {root}/state.wsgi application-group=alpha\n"
        "WSGIScriptAlias /b {root}/state.wsgi application-group=beta\n"
        "WSGIScriptAlias /g {root}/state.wsgi application-group=%{GLOBAL}\n",
        start=False, mpm=mpm)
    two_apps(srv)
    srv.write_file("state.wsgi", STATE_APP)
    srv.start()
    assert srv.get("/one").json()["config"] == "one"
    assert srv.get("/two").json()["config"] == "two"
    seen = {}  # (group, pid) -> counters in order
    for i in range(12):
        for path, group in (("/a", "alpha"), ("/b", "beta"), ("/g", "")):
            if path == "/b" and i % 3:
                continue  # beta gets fewer requests: shared globals would show
            d = srv.get(path).json()
            assert d["groups"] == [group], d  # this thread's local in this interpreter only
            seen.setdefault((group, d["pid"]), []).append(d["counter"])
    for (group, pid), counters in seen.items():
        assert counters == list(range(counters[0], counters[0] + len(counters))), (group, counters)
    assert srv.get("/one").json()["config"] == "one"


@both_modes
def test_reloading_one_app_leaves_the_other_alone(apache):
    srv = apache("WSGIScriptAlias /one {root}/one/app.wsgi\nWSGIScriptAlias /two {root}/two/app.wsgi\n",
                 start=False)
    two_apps(srv)
    srv.start()
    for _ in range(3):
        one, two = srv.get("/one").json(), srv.get("/two").json()
    import os
    import time
    path = srv.path("one", "app.wsgi")
    srv.write_file("one/app.wsgi", CONFIG_APP.replace('"config": config.NAME', '"config": config.NAME + "-v2"'))
    st = os.stat(path)
    os.utime(path, (st.st_atime, time.time() + 5))
    one2, two2 = srv.get("/one").json(), srv.get("/two").json()
    assert one2["config"] == "one-v2" and two2["config"] == "two"
    if one2["pid"] == one["pid"]:
        assert one2["counter"] == 1  # the reloaded module starts afresh
    if two2["pid"] == two["pid"]:
        assert two2["counter"] == two["counter"] + 1  # the other app's state is untouched
        assert two2["modules"] == two["modules"]


DJANGO_VIEWS = """
import json, os, sys
from django.conf import settings
from django.http import HttpResponse
from django.urls import path

def info(request):
    return HttpResponse(json.dumps({"label": settings.SITE_LABEL, "settings": os.environ["DJANGO_SETTINGS_MODULE"],
                                    "urlconf": settings.ROOT_URLCONF, "pid": os.getpid(),
                                    "group": request.META["mod_wsgi.application_group"]}),
                        content_type="application/json")

urlpatterns = [path("", info)]
"""


def subinterp_venv():
    """A virtualenv (made once, under /tmp, readable by www-data) with Django,
    pydantic-core (built with PyO3) and numpy from PyPI."""
    import os
    venv = os.environ.get("RWSGI_SUBINTERP_VENV") or "/tmp/rwsgi-subinterp-venv"
    return harness.pip_venv(venv, ["django", "pydantic-core", "numpy"], ["django", "pydantic_core", "numpy"])


@pytest.fixture(scope="module")
def venv():
    return subinterp_venv()


def django_site(srv, venv, name, label):
    import os
    import subprocess
    root = srv.path("sites", name)
    os.makedirs(root, exist_ok=True)
    subprocess.run([os.path.join(venv, "bin", "django-admin"), "startproject", name, root], check=True)
    with open(os.path.join(root, name, "settings.py"), "a") as f:
        f.write("\nALLOWED_HOSTS = ['*']\nDEBUG = False\nSITE_LABEL = %r\n" % label)
    with open(os.path.join(root, name, "urls.py"), "w") as f:
        f.write(DJANGO_VIEWS)
    subprocess.run(["chmod", "-R", "a+rX", srv.path("sites")], check=True)
    return root


@both_modes
def test_two_django_sites_with_different_settings(apache, venv):
    """Django's own wsgi.py (os.environ.setdefault of DJANGO_SETTINGS_MODULE)
    for two sites in one Apache (in daemon mode: in one daemon group)."""
    srv = apache("", start=False)
    one = django_site(srv, venv, "site_one", "first site")
    two = django_site(srv, venv, "site_two", "second site")
    if srv.mode == "daemon":
        # Both sites in one daemon group (python-path= is the daemon's WSGIPythonPath).
        where = "WSGIDaemonProcess django threads=4 python-home=%s python-path=%s:%s\n" % (venv, one, two)
        route = " process-group=django"
    else:
        where, route = "WSGIPythonHome %s\nWSGIPythonPath %s:%s\n" % (venv, one, two), ""
    srv.extra_config = where + (
        "WSGIScriptAlias /first %s/site_one/wsgi.py%s\nWSGIScriptAlias /second %s/site_two/wsgi.py%s\n"
        '<Directory %s/sites>\nRequire all granted\n</Directory>\n' % (one, route, two, route, srv.root)
    )
    srv.start()
    for _ in range(3):
        a, b = srv.get("/first/").json(), srv.get("/second/").json()
        assert (a["label"], a["settings"], a["urlconf"]) == ("first site", "site_one.settings", "site_one.urls")
        assert (b["label"], b["settings"], b["urlconf"]) == ("second site", "site_two.settings", "site_two.urls")
        assert a["group"].endswith("|/first") and b["group"].endswith("|/second")
        if srv.mode == "daemon":
            assert a["pid"] == b["pid"]  # one daemon process, two interpreters


EXTENSION_APP = """
import json, os, sys
sys.path.insert(0, %(site)r)
import pydantic_core
def application(environ, start_response):
    v = pydantic_core.SchemaValidator(pydantic_core.core_schema.int_schema())
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"value": v.validate_python("42"), "pid": os.getpid()}).encode()]
"""


# One Apache child (so that a test's requests all reach the same process).
ONE_CHILD = {
    "event": "StartServers 1\nServerLimit 1\nThreadLimit 4\nThreadsPerChild 4\nMaxRequestWorkers 4\n",
    "worker": "StartServers 1\nServerLimit 1\nThreadLimit 4\nThreadsPerChild 4\nMaxRequestWorkers 4\n",
    "prefork": "StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\nServerLimit 1\nMaxRequestWorkers 1\n",
}


def site_packages(venv):
    import glob
    return glob.glob(venv + "/lib/python3*/site-packages")[0]


@both_modes
@pytest.mark.parametrize("mpm", MPMS)
def test_pyo3_extension_in_sub_interpreters_and_global(apache, venv, mpm):
    """pydantic-core (a PyO3 extension) loads in one interpreter per process
    only: in %{GLOBAL} it works; a sub-interpreter asking for it after another
    interpreter loaded it gets a 500, its traceback, and one line naming the
    module and saying to use WSGIApplicationGroup %{GLOBAL}."""
    srv = apache(
        "WSGIScriptAlias /global {root}/ext.wsgi application-group=%{GLOBAL}\n"
        "WSGIScriptAlias /sub {root}/ext.wsgi application-group=second\n",
        start=False, mpm=mpm)
    srv.mpm_config = ONE_CHILD[mpm]  # both groups are asked in the same process
    srv.write_file("ext.wsgi", EXTENSION_APP % {"site": site_packages(venv)})
    srv.start()
    g = srv.get("/global")
    assert g.status == 200 and g.json()["value"] == 42
    r = srv.get("/sub")
    assert r.status == 500, r.body[:300]
    assert srv.wait_for_log(r"PyO3 modules do not yet support subinterpreters")
    assert srv.wait_for_log(
        r"the C extension module 'pydantic_core\._pydantic_core' cannot be loaded in a Python sub-interpreter "
        r"\(application group 'second'\); run this application in the main interpreter with "
        r"`WSGIApplicationGroup %\{GLOBAL\}`")
    assert srv.get("/global").status == 200


NUMPY_APP = """
import json, os, sys, threading
sys.path.insert(0, %(site)r)
import numpy
def application(environ, start_response):
    a = numpy.arange(10000, dtype=numpy.float64).reshape(100, 100)
    # numpy releases the GIL inside dot(); several request threads at once.
    total = float(numpy.dot(a, a.T).trace())
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"total": total, "thread": threading.get_ident(), "pid": os.getpid()}).encode()]
"""


@both_modes
@pytest.mark.parametrize("mpm", MPMS)
def test_numpy_in_global_from_many_threads(apache, venv, mpm):
    import threading
    srv = apache("WSGIScriptAlias /np {root}/np.wsgi application-group=%{GLOBAL}\n", start=False, mpm=mpm)
    srv.write_file("np.wsgi", NUMPY_APP % {"site": site_packages(venv)})
    srv.start()
    expected = srv.get("/np").json()["total"]
    results, errors = [], []

    def client():
        for _ in range(10):
            try:
                r = srv.get("/np", timeout=30)
                results.append((r.status, r.json()["total"] if r.status == 200 else r.body[:200]))
            except Exception as e:  # noqa: BLE001 - any failure is reported
                errors.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert len(results) == 80 and all(r == (200, expected) for r in results), results[:3]


@both_modes
def test_numpy_in_a_sub_interpreter_after_global_is_a_clear_500(apache, venv):
    srv = apache("WSGIScriptAlias /np {root}/np.wsgi application-group=%{GLOBAL}\n"
                 "WSGIScriptAlias /np-sub {root}/np.wsgi application-group=numpy-sub\n", start=False)
    srv.mpm_config = ONE_CHILD["event"]
    srv.write_file("np.wsgi", NUMPY_APP % {"site": site_packages(venv)})
    srv.start()
    assert srv.get("/np").status == 200
    assert srv.get("/np-sub").status == 500
    assert srv.wait_for_log(r"cannot load module more than once per process")
    assert srv.wait_for_log(r"the C extension module 'numpy\._core\._multiarray_umath' cannot be loaded in a Python "
                            r"sub-interpreter \(application group 'numpy-sub'\); .*WSGIApplicationGroup %\{GLOBAL\}")
    assert srv.get("/np").status == 200


def load(srv, paths, stop, counts, problems, n):
    import http.client
    i = 0
    while not stop.is_set():
        path = paths[(n + i) % len(paths)]
        i += 1
        try:
            r = srv.get(path, timeout=20)
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            counts["connection_error"] += 1
            problems.append("%s: %r" % (path, e))
            continue
        ok = r.status == 200 and not r.incomplete
        counts["ok" if ok else "bad"] += 1
        if not ok:
            problems.append("%s: %s %r" % (path, r.status, r.body[:200]))


SEVERAL = ["alpha", "beta", "gamma", "%{GLOBAL}"]


def several_interpreters(apache, mpm):
    srv = apache("".join("WSGIScriptAlias /%d {root}/state.wsgi application-group=%s\n" % (i, g)
                         for i, g in enumerate(SEVERAL)), start=False, mpm=mpm)
    srv.write_file("state.wsgi", STATE_APP)
    srv.start()
    paths = ["/%d" % i for i in range(len(SEVERAL))]
    for path in paths:
        assert srv.get(path).status == 200
    return srv, paths


def stop_under_load(srv, paths):
    """Stops the server while requests are arriving in every interpreter: every
    process ends (no hang in interpreter teardown) and nothing crashes."""
    import collections
    import threading
    import time
    stop, counts, problems = threading.Event(), collections.Counter(), []
    threads = [threading.Thread(target=load, args=(srv, paths, stop, counts, problems, n)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    started = time.monotonic()
    srv.stop(check_log=False)
    elapsed = time.monotonic() - started
    stop.set()
    for t in threads:
        t.join(30)
    assert counts["ok"] > 0
    assert not srv._our_pids()
    assert elapsed < 8, "stop took %.1fs" % elapsed
    srv.check_log()  # no crash, no child that did not exit


@both_modes
@pytest.mark.parametrize("mpm", MPMS)
def test_graceful_restart_and_stop_under_load_with_several_interpreters(apache, mpm):
    """Requests to three sub-interpreters and the main one keep being answered
    across two graceful restarts, then the server stops under load."""
    import collections
    import threading
    import time
    srv, paths = several_interpreters(apache, mpm)
    stop, counts, problems = threading.Event(), collections.Counter(), []
    threads = [threading.Thread(target=load, args=(srv, paths, stop, counts, problems, n)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    before = counts["ok"]
    srv.graceful()
    time.sleep(0.5)
    srv.graceful()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(30)
    assert before > 0 and counts["ok"] > before, counts
    assert counts["bad"] == 0 and counts["connection_error"] == 0, (counts, problems[:5])
    stop_under_load(srv, paths)


@both_modes
@pytest.mark.parametrize("mpm", MPMS)
def test_stop_under_load_with_several_interpreters(apache, mpm):
    srv, paths = several_interpreters(apache, mpm)
    stop_under_load(srv, paths)


EXIT_APP = """
import atexit, json, os, mod_wsgi
def _mark(kind):
    group = mod_wsgi.application_group or "GLOBAL"
    with open(os.path.join(%(root)r, "%%s-%%s-%%d" %% (kind, group, os.getpid())), "w") as f:
        f.write(kind)
atexit.register(_mark, "atexit")
mod_wsgi.subscribe_shutdown(lambda event, **kw: _mark("shutdown"))
def application(environ, start_response):
    start_response("200 OK", [])
    return [json.dumps({"pid": os.getpid()}).encode()]
"""


@both_modes
def test_atexit_and_shutdown_callbacks_run_in_every_interpreter(apache):
    import os
    import time
    srv = apache("WSGIScriptAlias /a {root}/exit.wsgi application-group=alpha\n"
                 "WSGIScriptAlias /b {root}/exit.wsgi application-group=beta\n"
                 "WSGIScriptAlias /g {root}/exit.wsgi application-group=%{GLOBAL}\n", start=False)
    srv.mpm_config = ONE_CHILD["event"]
    os.chmod(srv.root, 0o1777)  # the app (www-data) writes its markers here
    srv.write_file("exit.wsgi", EXIT_APP % {"root": srv.root})
    srv.start()
    pids = {srv.get(p).json()["pid"] for p in ("/a", "/b", "/g")}
    assert len(pids) == 1
    pid = pids.pop()
    srv.stop()
    want = ["%s-%s-%d" % (k, g, pid) for k in ("atexit", "shutdown") for g in ("alpha", "beta", "GLOBAL")]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(os.path.exists(srv.path(w)) for w in want):
        time.sleep(0.05)
    assert [w for w in want if not os.path.exists(srv.path(w))] == []


OPTIONS_APP = """
import json, sys
def application(environ, start_response):
    try:
        import layer_mod
        layer = layer_mod.NAME
    except ImportError:
        layer = None
    try:
        print("from", environ["mod_wsgi.application_group"])
        stdout = "free"
    except OSError:
        stdout = "restricted"
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"layer": layer, "stdout": stdout}).encode()]
"""


def start_options_site(srv):
    """Starts a site whose /a (group alpha: its own path layer, stdout
    restricted) and /b (group beta: neither) run OPTIONS_APP, and checks both."""
    srv.write_file("layer/layer_mod.py", "NAME = 'layer'\n")
    srv.write_file("opts.wsgi", OPTIONS_APP)
    srv.start()
    assert srv.get("/a").json() == {"layer": "layer", "stdout": "restricted"}
    assert srv.get("/b").json() == {"layer": None, "stdout": "free"}


@both_modes
def test_interpreter_options_scope_path_and_restrictions_to_their_groups(apache):
    srv = apache(
        "WSGIPerInterpreterGIL On\n"
        "<WSGIInterpreterOptions application-group=alpha>\n"
        "    WSGIPythonPath {root}/layer\n"
        "    WSGIRestrictStdout On\n"
        "</WSGIInterpreterOptions>\n"
        "<WSGIInterpreterOptions application-group=%{GLOBAL}>\n"
        "    WSGIPerInterpreterGIL On\n"
        "</WSGIInterpreterOptions>\n"
        "WSGIScriptAlias /a {root}/opts.wsgi application-group=alpha\n"
        "WSGIScriptAlias /b {root}/opts.wsgi application-group=beta\n"
        "WSGIScriptAlias /g {root}/opts.wsgi application-group=%{GLOBAL}\n", start=False)
    start_options_site(srv)
    assert srv.get("/g").json() == {"layer": None, "stdout": "free"}
    # On Python 3.11: one start-up warning per place that asks for it.
    lines = srv.log_lines(r"needs Python 3\.12 or later")
    assert len(lines) == 2, lines
    assert any("WSGIPerInterpreterGIL (" in l for l in lines)
    assert any("<WSGIInterpreterOptions (" in l and "WSGIPerInterpreterGIL inside it" in l for l in lines)


def test_interpreter_options_as_configuration_tools_write_them(apache):
    # Quoted selectors and values, the container inside <IfModule mod_wsgi.c>
    # and a conditional section inside the container (Apache expands those
    # while it reads the file).
    srv = apache(
        "<IfModule mod_wsgi.c>\n"
        "  <WSGIInterpreterOptions application-group=\"alpha\">\n"
        "    WSGIPythonPath \"{root}/layer\"\n"
        "    <IfModule mod_alias.c>\n"
        "      WSGIRestrictStdout 'On'\n"
        "    </IfModule>\n"
        "    <IfModule mod_not_loaded.c>\n"
        "      WSGIRestrictStdout Off\n"
        "    </IfModule>\n"
        "  </WSGIInterpreterOptions>\n"
        "</IfModule>\n"
        "WSGIScriptAlias /a {root}/opts.wsgi application-group=alpha\n"
        "WSGIScriptAlias /b {root}/opts.wsgi application-group=beta\n", start=False)
    start_options_site(srv)


def test_interpreter_options_reject_a_second_argument(apache):
    srv = apache("<WSGIInterpreterOptions application-group=x>\n    WSGIRestrictStdout On Off\n</WSGIInterpreterOptions>\n",
                 start=False)
    rc, out = srv.config_test()
    assert rc != 0 and "<WSGIInterpreterOptions> WSGIRestrictStdout takes one argument, not 'On Off'" in out, out


@both_modes
def test_interpreter_options_reject_other_directives(apache):
    srv = apache("<WSGIInterpreterOptions application-group=x>\n    WSGIPythonHome /opt\n</WSGIInterpreterOptions>\n",
                 start=False)
    rc, out = srv.config_test()
    assert rc != 0 and "WSGIPythonHome is not allowed here" in out, out


HOOKS_APP = """
import json, os, sys, mod_wsgi
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "shared"))
import marks
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"group": mod_wsgi.application_group, "seen": sorted(set(marks.seen))}).encode()]
"""

HOOK_PRELUDE = """
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "shared"))
import marks
"""


def test_import_access_and_dispatch_scripts_run_in_their_groups_interpreters(apache):
    """Embedded mode (these scripts run in Apache's children): WSGIImportScript
    application-group=, WSGIAccessScript application-group= and a dispatch
    script's application_group() all reach the named group's interpreter,
    the one its application runs in; another group sees none of it."""
    srv = apache(
        "WSGIImportScript {root}/import.wsgi process-group=%{GLOBAL} application-group=alpha\n"
        "WSGIScriptAlias /a {root}/app.wsgi application-group=alpha\n"
        "WSGIScriptAlias /b {root}/app.wsgi application-group=beta\n"
        "WSGIScriptAlias /d {root}/app.wsgi\n"
        "<Location /a>\n    WSGIAccessScript {root}/access.wsgi application-group=alpha\n</Location>\n"
        "<Location /d>\n    WSGIDispatchScript {root}/dispatch.wsgi application-group=gamma\n</Location>\n",
        start=False, mode="embedded")
    srv.mpm_config = ONE_CHILD["event"]
    srv.write_file("shared/marks.py", "seen = []\n")
    srv.write_file("app.wsgi", HOOKS_APP)
    srv.write_file("import.wsgi", HOOK_PRELUDE + "marks.seen.append('import')\n")
    srv.write_file("access.wsgi", HOOK_PRELUDE + "def allow_access(environ, host):\n    marks.seen.append('access')\n    return True\n")
    srv.write_file("dispatch.wsgi", HOOK_PRELUDE + "import mod_wsgi\n"
                   "def application_group(environ):\n    marks.seen.append('dispatch in ' + mod_wsgi.application_group)\n"
                   "    return 'alpha'\n")
    srv.start()
    assert srv.get("/a").json() == {"group": "alpha", "seen": ["access", "import"]}
    assert srv.get("/b").json() == {"group": "beta", "seen": []}
    assert srv.get("/d").json() == {"group": "alpha", "seen": ["access", "import"]}
    # The dispatch script ran in its own group's interpreter (gamma).
    assert srv.get("/b").json()["seen"] == []


EVENTS_APP = """
import json, mod_wsgi
seen = []
def on_event(name, **payload):
    if name == "request_started":
        seen.append(payload.get("request_id"))
mod_wsgi.subscribe_events(on_event)
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"id": environ.get("mod_wsgi.request_id"), "seen": seen,
                        "callbacks": len(mod_wsgi.event_callbacks)}).encode()]
"""


@both_modes
def test_event_callbacks_are_per_interpreter(apache):
    """A callback subscribed in one application group's interpreter sees only
    that interpreter's requests, as with mod_wsgi."""
    srv = apache("WSGIScriptAlias /a {root}/events.wsgi application-group=alpha\n"
                 "WSGIScriptAlias /b {root}/events.wsgi application-group=beta\n", start=False)
    srv.mpm_config = ONE_CHILD["event"]
    srv.write_file("events.wsgi", EVENTS_APP)
    srv.start()
    own = {"/a": set(), "/b": set()}
    seen = {"/a": set(), "/b": set()}
    for path in ("/a", "/b", "/a", "/b", "/a"):
        r = srv.get(path)
        assert r.status == 200, (r.status, r.text[:500])
        got = json.loads(r.text)
        assert got["callbacks"] == 1, got
        own[path].add(got["id"])
        seen[path].update(got["seen"])
    assert own["/a"] and own["/b"]
    assert seen["/a"] <= own["/a"] and seen["/b"] <= own["/b"], (own, seen)
    assert own["/a"] & seen["/a"] and own["/b"] & seen["/b"], (own, seen)


# Every object an application gets, used in whichever interpreter runs it. The
# objects of each request are also kept, and an atexit callback writes to the
# last wsgi.errors kept, so that they outlive their requests and their
# interpreter's exit.
OBJECTS_APP = """
import atexit, gc, io, json, os, sys, threading, weakref, mod_wsgi
kept = []
atexit.register(lambda: kept and kept[-1][1].write("atexit writes in %r\\n" % mod_wsgi.application_group))
DATA = os.path.join(os.path.dirname(__file__), "data.bin")
def application(environ, start_response):
    inp, err, fw = environ["wsgi.input"], environ["wsgi.errors"], environ["wsgi.file_wrapper"]
    if environ["QUERY_STRING"] == "file":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return fw(open(DATA, "rb"))
    if environ["QUERY_STRING"] == "bytesio":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return mod_wsgi.FileWrapper(io.BytesIO(open(DATA, "rb").read()), blksize=1000)
    read = [inp.readline().decode(), inp.read(4).decode(), inp.readline(3).decode(),
            [l.decode() for l in inp.readlines(1)], "".join(l.decode() for l in inp)]
    wrapper = fw(open(__file__, "rb"), 64)
    with open(__file__, "rb") as f:
        same_file = b"".join(wrapper) == f.read()
    wrapper.close()
    group = mod_wsgi.application_group
    made_in_thread = []
    def in_thread():  # a thread of Python's own, in this interpreter
        sys.stderr.write("thread writes in %r\\n" % group)
        sys.stderr.flush()
        made_in_thread.append(b"".join(mod_wsgi.FileWrapper(io.BytesIO(b"abc"), 1)))
    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    # Each instance holds one reference to its class, given back when it goes.
    before = sys.getrefcount(mod_wsgi.FileWrapper)
    for _ in range(1000):
        mod_wsgi.FileWrapper(io.BytesIO(b"x"))
    class_references = sys.getrefcount(mod_wsgi.FileWrapper) - before
    # A cycle through a FileWrapper is collected.
    class Reader:
        def read(self, n):
            return b""
    reader = Reader()
    reader.wrapper = mod_wsgi.FileWrapper(reader)
    reader_ref = weakref.ref(reader)
    del reader
    gc.collect()
    cycle_collected = reader_ref() is None
    err.write("objects app in %r\\n" % group)
    err.writelines(["writelines one in %r\\n" % group, "writelines two in %r\\n" % group])
    err.flush()
    try:
        raise mod_wsgi.RequestTimeout("test")
    except mod_wsgi.RequestTimeout:
        caught = True
    refused = []
    for cls in (type(inp), type(err), type(start_response), type(mod_wsgi.active_requests)):
        try:
            cls()
        except TypeError:
            refused.append(cls.__name__)
    write = start_response("200 OK", [("Content-Type", "application/json")])
    kept.append((inp, err, write, start_response, wrapper))
    types = {"input": type(inp), "errors": type(err), "stderr": type(sys.stderr),
             "start_response": type(start_response), "write": type(write), "file_wrapper": fw,
             "FileWrapper": mod_wsgi.FileWrapper, "RequestTimeout": mod_wsgi.RequestTimeout,
             "active_requests": type(mod_wsgi.active_requests)}
    write(json.dumps({
        "pid": os.getpid(), "group": group,
        "ids": {k: id(v) for k, v in types.items()},
        "names": {k: "%s.%s" % (v.__module__, v.__name__) for k, v in types.items()},
        "read": read, "same_file": same_file, "thread": [x.decode() for x in made_in_thread],
        "class_references": class_references, "cycle_collected": cycle_collected,
        "wrapper": [fw is mod_wsgi.FileWrapper, type(wrapper) is mod_wsgi.FileWrapper,
                    isinstance(wrapper, mod_wsgi.FileWrapper), wrapper.blksize, wrapper.filelike.closed],
        "timeout": [caught, issubclass(mod_wsgi.RequestTimeout, BaseException),
                    issubclass(mod_wsgi.RequestTimeout, Exception)],
        "refused": refused,
        "active": [len(mod_wsgi.active_requests), environ["mod_wsgi.request_id"] in mod_wsgi.active_requests],
    }).encode())
    return []
"""

OBJECT_GROUPS = {"/a": "alpha", "/b": "beta", "/g": "%{GLOBAL}"}
BODY = b"line one\nabcdrest\nxyz-more\nfour\nfive\nsix"
DATA = bytes(range(256)) * 40


def objects_server(apache, mpm="event", config="", mode=None):
    kw = {} if mode is None else {"mode": mode}
    srv = apache("".join("WSGIScriptAlias %s {root}/objects.wsgi application-group=%s\n" % (p, g)
                         for p, g in OBJECT_GROUPS.items()) + config, start=False, mpm=mpm, **kw)
    srv.mpm_config = ONE_CHILD[mpm]  # every group is asked in the same process
    srv.write_file("objects.wsgi", OBJECTS_APP)
    with open(srv.path("data.bin"), "wb") as f:
        f.write(DATA)
    return srv


def check_objects(srv, path):
    """One request to `path` through every object; returns what it reported."""
    r = srv.request("POST", path, body=BODY)
    assert r.status == 200, r.body[:2000]
    got = r.json()
    assert got["read"] == ["line one\n", "abcd", "res", ["t\n"], "xyz-more\nfour\nfive\nsix"]
    assert got["same_file"] is True
    assert got["thread"] == ["abc"]
    assert got["class_references"] == 0 and got["cycle_collected"] is True
    assert got["wrapper"] == [True, True, True, 64, True]
    assert got["timeout"] == [True, True, False]
    assert got["refused"] == ["Input", "Log", "StartResponse", "ActiveRequests"]
    # (In daemon mode the previous request may still be finishing: at least this one.)
    assert got["active"][0] >= 1 and got["active"][1] is True
    assert got["names"] == {"input": "mod_wsgi.Input", "errors": "mod_wsgi.Log", "stderr": "mod_wsgi.Log",
                            "start_response": "mod_wsgi.StartResponse", "write": "mod_wsgi.Write",
                            "file_wrapper": "mod_wsgi.FileWrapper", "FileWrapper": "mod_wsgi.FileWrapper",
                            "RequestTimeout": "mod_wsgi.RequestTimeout",
                            "active_requests": "mod_wsgi.ActiveRequests"}
    # Within one interpreter: one class each (wsgi.errors and sys.stderr
    # share Log; wsgi.file_wrapper is mod_wsgi.FileWrapper).
    assert got["ids"]["errors"] == got["ids"]["stderr"]
    assert got["ids"]["file_wrapper"] == got["ids"]["FileWrapper"]
    for query in ("file", "bytesio"):
        r = srv.get(path + "?" + query)
        assert r.status == 200 and r.body == DATA, (query, r.status, len(r.body))
    return got


@both_modes
@pytest.mark.parametrize("mpm", MPMS)
def test_objects_the_application_sees_are_each_interpreters_own(apache, mpm):
    """wsgi.input, wsgi.errors, start_response and write, the file wrapper,
    mod_wsgi.FileWrapper, RequestTimeout and active_requests: each
    interpreter (two sub-interpreters and %{GLOBAL}, in one process) has
    classes of its own, made there, and they all work in each."""
    srv = objects_server(apache, mpm)
    srv.start()
    seen = {}
    for _ in range(2):
        for path, group in OBJECT_GROUPS.items():
            got = check_objects(srv, path)
            assert got["group"] == ("" if group == "%{GLOBAL}" else group)
            assert seen.setdefault(path, got["ids"]) == got["ids"]  # the same classes on every request
    assert len({got["pid"] for got in [check_objects(srv, p) for p in OBJECT_GROUPS]}) == 1
    for kind in seen["/a"]:
        ids = {path: seen[path][kind] for path in OBJECT_GROUPS}
        assert len(set(ids.values())) == len(ids), (kind, ids)
    for group in ("alpha", "beta", ""):
        srv.wait_for_log(r"objects app in '%s'" % group)
        srv.wait_for_log(r"writelines two in '%s'" % group)
        srv.wait_for_log(r"thread writes in '%s'" % group)
    srv.stop()
    # At exit each interpreter's atexit callback still writes through a
    # wsgi.errors kept past its request; nothing crashed on the way out.
    for group in ("alpha", "beta", ""):
        assert re.search(r"atexit writes in '%s'" % group, srv.error_log()), group
    srv.check_log()


def serve_objects_through_restarts(srv, recycled=None):
    """Serves every object group twice (six requests: one recycling at four
    connections or five requests), then through a graceful restart and a
    stop: no crash, atexit wrote."""
    srv.start()
    for _ in range(2):
        for path in OBJECT_GROUPS:
            check_objects(srv, path)
    if recycled:
        srv.wait_for_log(recycled)
    srv.graceful()
    for path in OBJECT_GROUPS:
        check_objects(srv, path)
    srv.stop()
    assert len(re.findall(r"atexit writes in ", srv.error_log())) >= 3
    srv.check_log()


@pytest.mark.parametrize("mpm", MPMS)
def test_objects_survive_recycling_and_restarts_in_an_apache_child(apache, mpm):
    """Embedded mode: Apache children with several interpreters whose objects
    outlive their requests end by MaxConnectionsPerChild, graceful restart and
    stop; none crashes (the error log names every abnormal child exit)."""
    srv = objects_server(apache, mpm, config="MaxConnectionsPerChild 4\n", mode="embedded")
    serve_objects_through_restarts(srv)


def test_objects_survive_recycling_and_restarts_in_a_daemon(apache):
    """Daemon mode: a daemon with several interpreters whose objects outlive
    their requests ends by maximum-requests, graceful restart and stop,
    without a crash."""
    srv = objects_server(apache, mode="embedded", config=(
        "WSGIDaemonProcess objects processes=1 threads=4 maximum-requests=5\n"
        "WSGIProcessGroup objects\n"))
    serve_objects_through_restarts(srv, recycled=r"shutting down \(maximum-requests\)")


INTERRUPT_APP = """
import os, sys, time, mod_wsgi
def application(environ, start_response):
    err = environ["wsgi.errors"]
    try:
        while True:
            time.sleep(0.02)
    finally:
        kind = sys.exc_info()[0]
        err.write("BUSYLOOP in %r unwound: %s, its own class: %s\\n"
                  % (mod_wsgi.application_group, kind.__name__, kind is mod_wsgi.RequestTimeout))
        err.flush()
"""


def test_request_timeout_raises_each_interpreters_own_class(apache):
    """interrupt-timeout raises the interrupted interpreter's RequestTimeout,
    which its application can catch as mod_wsgi.RequestTimeout, and the
    request becomes a 504, in a sub-interpreter as in %{GLOBAL}."""
    import time
    srv = apache(
        "WSGIDaemonProcess intr processes=1 threads=2 request-timeout=1 interrupt-timeout=2 graceful-timeout=1\n"
        "WSGIScriptAlias /a {root}/busy.wsgi process-group=intr application-group=alpha\n"
        "WSGIScriptAlias /g {root}/busy.wsgi process-group=intr application-group=%{GLOBAL}\n",
        start=False, mode="embedded")
    srv.write_file("busy.wsgi", INTERRUPT_APP)
    srv.start()
    for path, group in (("/a", "alpha"), ("/g", "")):
        mark = srv.log_mark()
        started = time.monotonic()
        r = srv.get(path, timeout=20)
        assert r.status == 504, (path, r.status, r.body[:300])
        assert time.monotonic() - started < 4
        srv.wait_for_log(r"BUSYLOOP in '%s' unwound: RequestTimeout, its own class: True" % group, since=mark)
    srv.stop()


ARGUMENTS_APP = """
import json, mod_wsgi
def application(environ, start_response):
    inp, err = environ["wsgi.input"], environ["wsgi.errors"]
    calls = {
        "read str": lambda: inp.read("x"),
        "read too many": lambda: inp.read(1, 2),
        "readline keyword": lambda: inp.readline(bad=1),
        "close with argument": lambda: inp.close(1),
        "errors bytes": lambda: err.write(b"bytes"),
        "errors missing": lambda: err.write(),
        "errors twice": lambda: err.write("a", text="b"),
        "writelines not iterable": lambda: err.writelines(3),
        "fileno": lambda: err.fileno(),
        "start_response missing": lambda: start_response("200 OK"),
        "start_response status": lambda: start_response(200, []),
        "start_response headers": lambda: start_response("200 OK", [("X-A", 1)]),
        "FileWrapper missing": lambda: mod_wsgi.FileWrapper(),
        "FileWrapper blksize": lambda: mod_wsgi.FileWrapper(None, "big"),
        "active_requests key": lambda: mod_wsgi.active_requests["nope"],
    }
    errors = {}
    for name, call in calls.items():
        try:
            call()
            errors[name] = None
        except Exception as e:
            errors[name] = "%s: %s" % (type(e).__name__, e)
    write = start_response("200 OK", [("Content-Type", "application/json")])
    for name, call in {"write str": lambda: write("text"), "write none": lambda: write()}.items():
        try:
            call()
            errors[name] = None
        except Exception as e:
            errors[name] = "%s: %s" % (type(e).__name__, e)
    return [json.dumps(errors).encode()]
"""


@both_modes
def test_bad_arguments_raise_clear_errors_in_every_interpreter(apache):
    srv = apache("WSGIScriptAlias /a {root}/args.wsgi application-group=alpha\n"
                 "WSGIScriptAlias /g {root}/args.wsgi application-group=%{GLOBAL}\n", start=False)
    srv.write_file("args.wsgi", ARGUMENTS_APP)
    srv.start()
    expected = {
        "read str": "TypeError: 'str' object cannot be interpreted as an integer",
        "read too many": "TypeError: read() takes at most 1 argument (2 given)",
        "readline keyword": "TypeError: readline() got an unexpected keyword argument 'bad'",
        "close with argument": "TypeError: close() takes at most 0 arguments (1 given)",
        "errors bytes": "TypeError: write() argument must be str, not bytes",
        "errors missing": "TypeError: write() missing required argument 'text' (pos 1)",
        "errors twice": "TypeError: write() got multiple values for argument 'text'",
        "writelines not iterable": "TypeError: 'int' object is not iterable",
        "fileno": "OSError: the Apache error log stream has no file descriptor",
        "start_response missing": "TypeError: start_response() missing required argument 'response_headers' (pos 2)",
        "start_response status": "TypeError: expected str for status line, got int",
        "start_response headers": 'TypeError: value of header "X-A" must be str, got int',
        "FileWrapper missing": "TypeError: FileWrapper() missing required argument 'filelike' (pos 1)",
        "FileWrapper blksize": "TypeError: 'str' object cannot be interpreted as an integer",
        "active_requests key": "KeyError: 'nope'",
        "write str": "TypeError: write() argument must be bytes, not str",
        "write none": "TypeError: write() missing required argument 'data' (pos 1)",
    }
    for path in ("/a", "/g"):
        r = srv.get(path)
        assert r.status == 200, r.body[:2000]
        assert r.json() == expected, path
    srv.check_log()


# Marks, in the test's root, what ran at the process's exit in each
# interpreter: the shutdown and atexit callbacks, and two finalisers that run
# only when the interpreter is really ended (a module-level object's __del__,
# a weakref callback; a weakref.finalize would not do: weakref's own atexit
# hook runs or disables them all). Every request's environ, start_response and
# a file wrapper are kept until the interpreter ends, long after the request. `thread` starts, in the
# group 'alpha', a non-daemon thread that never ends or a daemon thread.
FINAL_APP = """
import atexit, json, os, threading, weakref, mod_wsgi
GROUP = mod_wsgi.application_group or "GLOBAL"
def _mark(kind, group=GROUP, root=%(root)r, pid=os.getpid(), join=os.path.join, open=open):
    with open(join(root, "%%s-%%s-%%d" %% (kind, group, pid)), "w") as f:
        f.write(kind)
class Held:
    def __del__(self, mark=_mark):
        mark("del")
held = Held()
class Target:
    pass
target = Target()
watch = weakref.ref(target, lambda ref, mark=_mark: mark("weakref"))
atexit.register(_mark, "atexit")
mod_wsgi.subscribe_shutdown(lambda event, **kw: _mark("shutdown"))
if GROUP == "alpha" and %(thread)r == "forever":
    threading.Thread(target=threading.Event().wait, name="never-ends").start()
if GROUP == "alpha" and %(thread)r == "daemon":
    threading.Thread(target=threading.Event().wait, name="daemon-thread", daemon=True).start()
KEPT = []  # the request's objects, kept past its end: released only when the interpreter ends
def application(environ, start_response):
    if environ.get("PATH_INFO") == "/slow":
        import time
        time.sleep(30)
    KEPT.append((environ, start_response, environ["wsgi.file_wrapper"](open(__file__, "rb"))))
    start_response("200 OK", [])
    return [json.dumps({"pid": os.getpid()}).encode()]
"""

FINAL_GROUPS = ("alpha", "beta", "GLOBAL")
FINALISERS = ("del", "weakref")
CALLBACKS = ("atexit", "shutdown")


def final_server(apache, mpm="event", setting="", thread=None):
    """Three interpreters (two sub-interpreters and %{GLOBAL}) in one process."""
    import os
    srv = apache(setting + "WSGIScriptAlias /a {root}/final.wsgi application-group=alpha\n"
                 "WSGIScriptAlias /b {root}/final.wsgi application-group=beta\n"
                 "WSGIScriptAlias /g {root}/final.wsgi application-group=%{GLOBAL}\n", start=False, mpm=mpm)
    srv.mpm_config = ONE_CHILD[mpm]
    os.chmod(srv.root, 0o1777)  # the app (www-data) writes its markers here
    srv.write_file("final.wsgi", FINAL_APP % {"root": srv.root, "thread": thread})
    srv.start()
    return srv, served_pid(srv)


def served_pid(srv):
    pids = {srv.get(p).json()["pid"] for p in ("/a", "/b", "/g")}
    assert len(pids) == 1, pids
    return pids.pop()


def timed_stop(srv):
    import time
    started = time.monotonic()
    srv.stop(check_log=False)
    return time.monotonic() - started


def marks(srv, pid, kinds, groups=FINAL_GROUPS, wait=5.0):
    """The markers of `kinds` x `groups` that exist for `pid` (waiting up to
    `wait` seconds for all of them)."""
    import os
    import time
    want = ["%s-%s-%d" % (k, g, pid) for k in kinds for g in groups]
    deadline = time.monotonic() + wait
    while True:
        have = [w for w in want if os.path.exists(srv.path(w))]
        if len(have) == len(want) or time.monotonic() >= deadline:
            return sorted(have)
        time.sleep(0.05)


def expected(pid, kinds, groups=FINAL_GROUPS):
    return sorted("%s-%s-%d" % (k, g, pid) for k in kinds for g in groups)


@both_modes
@pytest.mark.parametrize("mpm", MPMS)
def test_stop_ends_every_interpreter_and_finalises_python(apache, mpm):
    """WSGIDestroyInterpreter On is the default: at stop each sub-interpreter's
    objects are finalised and it is ended, then the main interpreter is
    finalised, quickly and without a crash."""
    srv, pid = final_server(apache, mpm)
    elapsed = timed_stop(srv)
    assert marks(srv, pid, CALLBACKS + FINALISERS) == expected(pid, CALLBACKS + FINALISERS)
    assert elapsed < 10, "stop took %.1fs" % elapsed  # a hang check; it takes well under a second
    for group in ("alpha", "beta"):
        assert srv.log_lines(r"Destroy interpreter '%s'\." % group)
    assert srv.log_lines(r"Python has shut down\.")
    srv.check_log()


@both_modes
@pytest.mark.parametrize("mpm", MPMS)
def test_graceful_restart_ends_the_old_processes_interpreters(apache, mpm):
    import time
    srv, pid = final_server(apache, mpm, setting="WSGIDestroyInterpreter On\n")
    srv.graceful()
    deadline = time.monotonic() + 15
    while served_pid(srv) == pid:
        assert time.monotonic() < deadline, "the old process still serves"
        time.sleep(0.1)
    assert marks(srv, pid, CALLBACKS + FINALISERS) == expected(pid, CALLBACKS + FINALISERS)
    assert timed_stop(srv) < 10
    srv.check_log()


@both_modes
def test_destroy_interpreter_off_runs_callbacks_only(apache):
    srv, pid = final_server(apache, setting="WSGIDestroyInterpreter Off\n")
    timed_stop(srv)
    assert marks(srv, pid, CALLBACKS) == expected(pid, CALLBACKS)
    assert marks(srv, pid, FINALISERS, wait=0.5) == []
    assert not srv.log_lines(r"Destroy interpreter|Python has shut down")
    srv.check_log()


@both_modes
def test_a_thread_that_never_ends_does_not_hang_the_stop(apache):
    """threading's join of a non-daemon thread that never ends is given up by
    the exit's watchdog, which names the step; every interpreter's callbacks
    ran before."""
    srv, pid = final_server(apache, thread="forever")
    elapsed = timed_stop(srv)
    assert elapsed < 10, "stop took %.1fs" % elapsed
    assert marks(srv, pid, CALLBACKS) == expected(pid, CALLBACKS)
    assert srv.wait_for_log(r"shutdown step 'waiting for the non-daemon threads of interpreter 'alpha'' did not "
                            r"finish within 2s; exiting without finishing the shutdown")
    srv.check_log()


@both_modes
def test_an_interpreter_with_a_daemon_thread_is_not_ended(apache):
    """Ending an interpreter whose own daemon thread still runs would crash
    that thread: that interpreter is left (and so Python is not finalised),
    the others are ended."""
    srv, pid = final_server(apache, thread="daemon")
    elapsed = timed_stop(srv)
    assert elapsed < 10, "stop took %.1fs" % elapsed
    assert marks(srv, pid, CALLBACKS) == expected(pid, CALLBACKS)
    assert marks(srv, pid, FINALISERS, groups=("beta",)) == expected(pid, FINALISERS, groups=("beta",))
    assert marks(srv, pid, FINALISERS, groups=("alpha", "GLOBAL"), wait=0.5) == []
    assert srv.wait_for_log(r"interpreter 'alpha' is not ended: 1 thread\(s\) of its own")
    srv.check_log()


@both_modes
@pytest.mark.parametrize("mpm", MPMS)
def test_a_hard_stop_of_idle_processes_finalises(apache, mpm):
    """SIGTERM (apachectl stop) rather than a graceful stop: prefork's children
    run the exit from their signal handler, the threaded MPMs' after joining
    their workers; either way every interpreter is ended, without a crash."""
    import signal
    import time
    srv, pid = final_server(apache, mpm)
    started = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(20)
    elapsed = time.monotonic() - started
    assert elapsed < 10, "stop took %.1fs" % elapsed
    assert marks(srv, pid, CALLBACKS + FINALISERS) == expected(pid, CALLBACKS + FINALISERS)
    srv.stop()

def test_a_hard_stop_during_a_request_under_prefork_does_not_finalise(apache):
    """Prefork's SIGTERM handler exits the child from inside the request its
    one thread is serving: Python is not finalised under that request; the
    callbacks still run."""
    import signal
    import threading
    import time
    srv, pid = final_server(apache, "prefork")

    def slow():
        try:
            srv.get("/a/slow", timeout=30)
        except OSError:
            pass  # the child exits under it
    client = threading.Thread(target=slow)
    client.start()
    time.sleep(0.5)
    started = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(20)
    elapsed = time.monotonic() - started
    client.join(30)
    assert elapsed < 10, "stop took %.1fs" % elapsed
    assert srv.wait_for_log(r"Python is not finalised at this exit \(the exit interrupted this thread's own request\)")
    assert marks(srv, pid, CALLBACKS) == expected(pid, CALLBACKS)
    assert marks(srv, pid, FINALISERS, wait=0.5) == []
    srv.stop()


def test_a_daemon_request_that_outlives_the_drain_keeps_python_from_being_finalised(apache):
    """A daemon process told to stop while a request still runs drains, then
    runs the callbacks without finalising Python under that request."""
    import os
    import signal
    import threading
    import time
    srv, pid = final_server(apache, setting="WSGIDaemonProcess fin processes=1 threads=4\nWSGIProcessGroup fin\n")
    assert srv.log_lines(r"\(pid=%d, group='fin'\): daemon process 0 started" % pid)  # served by the daemon

    def slow():
        try:
            srv.get("/a/slow", timeout=30)
        except OSError:
            pass
    client = threading.Thread(target=slow)
    client.start()
    time.sleep(0.5)
    os.kill(pid, signal.SIGTERM)
    assert srv.wait_for_log(r"Python is not finalised at this exit \(1 request thread\(s\) are still running Python\)")
    assert marks(srv, pid, CALLBACKS) == expected(pid, CALLBACKS)
    assert marks(srv, pid, FINALISERS, wait=0.5) == []
    client.join(30)
    srv.stop()
