"""Drop-in for mod_wsgi configurations (issue 9): quoted option values,
<IfModule> wrappers, daemon groups in virtual hosts without ServerName, and
every mod_wsgi directive accepted with its meaning (or a start-up warning).

Each test runs against the module under test (`--module=wsgi` runs Debian's
mod_wsgi 4.9.4 as the oracle); where mod_rwsgi deliberately differs the test
says so and checks mod_rwsgi only."""

import json
import re

import pytest

ENV_APP = """\
import json, os, sys, signal

def application(environ, start_response):
    keys = ("REQUEST_METHOD", "mod_wsgi.process_group", "mod_wsgi.application_group",
            "mod_wsgi.enable_sendfile", "mod_wsgi.ignore_activity")
    out = {k: environ.get(k) for k in keys}
    out["cwd"] = os.getcwd()
    out["warnoptions"] = list(sys.warnoptions)
    out["switchinterval"] = sys.getswitchinterval()
    out["egg_cache"] = os.environ.get("PYTHON_EGG_CACHE")
    out["request_rec"] = type(environ.get("apache.request_rec")).__name__
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("X-Method", environ["REQUEST_METHOD"])])
    return [body]
"""


def rwsgi_only(srv):
    if srv.module != "rwsgi":
        pytest.skip("checks a mod_rwsgi-specific behaviour (stated in the test)")


def test_quoted_option_values(apache):
    srv = apache(
        """
        WSGIDaemonProcess "g1" home="{root}/home dir" user="www-data" group='www-data' python-home="/usr" display-name='(wsgi:g1)' threads="2"
        WSGIScriptAlias /app "{root}/env.wsgi" process-group="g1" application-group='%{GLOBAL}'
        WSGIImportScript "{root}/env.wsgi" process-group="g1" application-group="%{GLOBAL}"
        """,
        apps={"env.wsgi": ENV_APP, "home dir/.keep": ""},
    )
    r = srv.get("/app")
    assert r.status == 200, (r.status, srv.error_log()[-2000:])
    env = r.json()
    assert env["mod_wsgi.process_group"] == "g1"
    assert env["mod_wsgi.application_group"] == ""
    assert env["cwd"] == srv.path("home dir")


def test_bad_quoted_value_is_still_refused(apache):
    srv = apache('WSGIDaemonProcess g1 home="relative/dir"', start=False)
    rc, out = srv.config_test()
    assert rc != 0, out
    if srv.module == "rwsgi":
        # The message shows the value without its quotes.
        assert "'relative/dir' is not an absolute path" in out, out


WRAPPED = """
<IfModule {spelling}>
    WSGIDaemonProcess wrapped threads=2
    WSGIProcessGroup wrapped
    WSGIScriptAlias / {root}/htdocs/app.wsgi
    <Directory {root}/htdocs>
        Require all granted
    </Directory>
</IfModule>
"""


@pytest.mark.parametrize("spelling", ["mod_wsgi.c", "wsgi_module"])
def test_ifmodule_wrapped_config_loaded_as_wsgi_module(apache, spelling):
    """A mod_wsgi site switched by changing only the path of its
    `LoadModule wsgi_module ...` line: both <IfModule> spellings apply, the
    log tag and LogLevel name are `wsgi` as with mod_wsgi, and the script is
    never served as a file (the HestiaCP symptom: 404 for the app, the
    source for GET /app.wsgi)."""
    srv = apache(WRAPPED.replace("{spelling}", spelling), apps={"htdocs/app.wsgi": ENV_APP},
                 start=False, loglevel="info wsgi:debug")
    srv.module_symbol = "wsgi_module"
    srv.start()
    for path in ("/", "/app.wsgi"):
        r = srv.get(path)
        assert r.status == 200, (path, r.status, srv.error_log()[-2000:])
        assert r.json()["mod_wsgi.process_group"] == "wrapped", path
        assert b"def application" not in r.body
    if srv.module == "rwsgi":
        assert re.search(r"\[wsgi:info\].*daemon process group 'wrapped'", srv.error_log()), srv.error_log()[-2000:]


def test_ifmodule_mod_wsgi_c_loaded_as_rwsgi_module(apache):
    """Loaded under its own symbol, the module still answers to
    <IfModule mod_wsgi.c> (its name), and LogLevel rwsgi:debug works."""
    srv = apache(WRAPPED.replace("{spelling}", "mod_wsgi.c"), apps={"htdocs/app.wsgi": ENV_APP})
    rwsgi_only(srv)
    r = srv.get("/")
    assert r.status == 200 and r.json()["mod_wsgi.process_group"] == "wrapped"
    # The harness's `LogLevel info rwsgi:debug`: the daemon's debug lines are logged, tagged rwsgi.
    srv.wait_for_log(r"\[rwsgi:debug\].*new connection from Apache child")
    # <IfModule wsgi_module> names a LoadModule symbol; under rwsgi_module it is false (README, Loading).
    srv2 = apache("<IfModule wsgi_module>\nWSGINoSuchDirective\n</IfModule>\n<IfModule !rwsgi_module>\nWSGINoSuchDirective\n</IfModule>", start=False)
    rc, out = srv2.config_test()
    assert rc == 0, out


KEYSTONE = """
Listen 127.0.0.1:{vport}
<VirtualHost *:{vport}>
    WSGIDaemonProcess keystone-public processes=2 threads=2 user=www-data group=www-data display-name=%{GROUP}
    WSGIProcessGroup keystone-public
    WSGIScriptAlias / {root}/keystone.wsgi
    WSGIApplicationGroup %{GLOBAL}
    WSGIPassAuthorization On
    LimitRequestBody 114688
    <Directory {root}>
        Require all granted
    </Directory>
</VirtualHost>
"""


def test_keystone_vhost_without_servername(apache):
    """OpenStack keystone's wsgi-keystone.conf: the group is defined in a
    <VirtualHost> with no ServerName; mod_wsgi matches a vhost's group by the
    server's name, which such a vhost inherits from the main server."""
    from harness import free_port

    vport = free_port()
    srv = apache(KEYSTONE.replace("{vport}", str(vport)), apps={"keystone.wsgi": ENV_APP}, start=False)
    srv.start()
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", vport, timeout=10)
    conn.request("GET", "/v3")
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 200, (resp.status, body, srv.error_log()[-2000:])
    assert json.loads(body)["mod_wsgi.process_group"] == "keystone-public"


def test_servername_after_daemon_process(apache):
    srv = apache(
        """
        <VirtualHost 127.0.0.1:{port}>
            WSGIDaemonProcess late threads=2
            WSGIScriptAlias /app {root}/env.wsgi process-group=late
            ServerName late.example
        </VirtualHost>
        """,
        apps={"env.wsgi": ENV_APP},
    )
    r = srv.get("/app", headers={"Host": "late.example"})
    assert r.status == 200, (r.status, srv.error_log()[-2000:])
    assert r.json()["mod_wsgi.process_group"] == "late"


def test_group_of_other_servername_is_not_reachable(apache):
    srv = apache(
        """
        <VirtualHost 127.0.0.1:{port}>
            ServerName a.example
            WSGIDaemonProcess only-a threads=2
        </VirtualHost>
        <VirtualHost 127.0.0.1:{port}>
            ServerName b.example
            WSGIScriptAlias /app {root}/env.wsgi process-group=only-a
        </VirtualHost>
        """,
        apps={"env.wsgi": ENV_APP},
    )
    r = srv.get("/app", headers={"Host": "b.example"})
    assert r.status == 500


@pytest.mark.parametrize("setting, method", [("Off", "HEAD"), ("On", "GET"), ("Auto", "HEAD")])
def test_map_head_to_get(apache, setting, method):
    srv = apache("WSGIMapHEADToGET %s\nWSGIScriptAlias /app {root}/env.wsgi" % setting, apps={"env.wsgi": ENV_APP})
    r = srv.request("HEAD", "/app")
    assert r.status == 200
    assert r.header("X-Method") == method


def test_map_head_to_get_default_is_auto(apache):
    """mod_wsgi 6.0's documented default; 4.9.4's effective default was Off
    (a bug 6.0.0 fixed), so this is checked against mod_rwsgi only."""
    srv = apache(
        "WSGIScriptAlias /app {root}/env.wsgi\nWSGIScriptAlias /plain {root}/env.wsgi\n<Location /app>\nSetOutputFilter DEFLATE\n</Location>",
        apps={"env.wsgi": ENV_APP},
        extra_modules=[("filter_module", "mod_filter.so"), ("deflate_module", "mod_deflate.so")],
        start=False,
    )
    rwsgi_only(srv)
    srv.start()
    assert srv.request("HEAD", "/app").header("X-Method") == "GET"
    assert srv.request("HEAD", "/plain").header("X-Method") == "HEAD"


def test_map_head_to_get_auto_with_content_filter(apache):
    srv = apache(
        "WSGIMapHEADToGET Auto\nWSGIScriptAlias /app {root}/env.wsgi\n<Location /app>\nSetOutputFilter DEFLATE\n</Location>",
        apps={"env.wsgi": ENV_APP},
        extra_modules=[("filter_module", "mod_filter.so"), ("deflate_module", "mod_deflate.so")],
    )
    r = srv.request("HEAD", "/app")
    assert r.status == 200 and r.header("X-Method") == "GET"


def test_environ_flags_follow_directives(apache):
    srv = apache(
        """
        WSGIScriptAlias /app {root}/env.wsgi
        WSGIScriptAlias /plain {root}/env.wsgi
        <Location /app>
            WSGIEnableSendfile On
            WSGIIgnoreActivity On
        </Location>
        """,
        apps={"env.wsgi": ENV_APP},
    )
    on, off = srv.get("/app").json(), srv.get("/plain").json()
    assert (on["mod_wsgi.enable_sendfile"], on["mod_wsgi.ignore_activity"]) == ("1", "1")
    assert (off["mod_wsgi.enable_sendfile"], off["mod_wsgi.ignore_activity"]) == ("0", "0")


def test_python_directives(apache):
    srv = apache(
        """
        WSGIPythonWarnings ignore::DeprecationWarning
        WSGIPythonWarnings error::ResourceWarning
        WSGIPythonEggs {root}/eggs
        WSGIScriptAlias /app {root}/env.wsgi
        """,
        apps={"env.wsgi": ENV_APP},
    )
    env = srv.get("/app").json()
    assert env["warnoptions"] == ["ignore::DeprecationWarning", "error::ResourceWarning"]
    assert env["egg_cache"] == srv.path("eggs")
    assert env["switchinterval"] == pytest.approx(0.005)


def test_switch_interval(apache):
    """WSGISwitchInterval is mod_wsgi 6.0's; 4.9.4 does not know it."""
    srv = apache("WSGISwitchInterval 0.025\nWSGIScriptAlias /app {root}/env.wsgi", apps={"env.wsgi": ENV_APP}, start=False)
    rwsgi_only(srv)
    srv.start()
    assert srv.get("/app").json()["switchinterval"] == pytest.approx(0.025)


SIGNAL_APP = """\
import signal

def handler(signum, frame):
    pass

def application(environ, start_response):
    try:
        result = signal.signal(signal.SIGUSR2, handler)
        body = "returned handler" if result is handler else "returned %r" % (result,)
    except ValueError as e:
        body = "ValueError"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"""


def test_restrict_signal_default_ignores_registration(apache):
    srv = apache("WSGIScriptAlias /sig {root}/sig.wsgi", apps={"sig.wsgi": SIGNAL_APP})
    mark = srv.log_mark()
    r = srv.get("/sig")
    assert r.text == "returned handler"
    srv.wait_for_log(r"Callback registration for signal %d ignored" % 12, since=mark)


def test_restrict_signal_off_calls_the_real_function(apache):
    srv = apache("WSGIRestrictSignal Off\nWSGIScriptAlias /sig {root}/sig.wsgi", apps={"sig.wsgi": SIGNAL_APP})
    if srv.mode == "daemon":
        pytest.skip("request threads of both modes are not the main thread; checked in embedded mode")
    # The real signal.signal refuses a request thread (not the main thread).
    assert srv.get("/sig").text == "ValueError"


MISSING_CALLABLE = "def not_the_application(environ, start_response):\n    pass\n"


def test_script_without_callable_is_500_with_log_line(apache):
    """mod_wsgi answers 404 here; mod_rwsgi a 500 (a broken deployment, not a
    missing resource), with mod_wsgi's log line."""
    srv = apache("WSGIScriptAlias /nocall {root}/nocall.wsgi", apps={"nocall.wsgi": MISSING_CALLABLE})
    rwsgi_only(srv)
    mark = srv.log_mark()
    assert srv.get("/nocall").status == 500
    srv.wait_for_log(r"Target WSGI script '.*nocall\.wsgi' does not contain WSGI application 'application'", since=mark)


def test_script_without_callable_is_500_in_daemon_mode(apache):
    srv = apache("WSGIDaemonProcess nc threads=1\nWSGIScriptAlias /nocall {root}/nocall.wsgi process-group=nc",
                 apps={"nocall.wsgi": MISSING_CALLABLE})
    rwsgi_only(srv)
    mark = srv.log_mark()
    assert srv.get("/nocall").status == 500
    srv.wait_for_log(r"does not contain WSGI application 'application'", since=mark)


def test_repeated_alias_option_last_wins_with_warning(apache):
    srv = apache("WSGIScriptAlias /app {root}/env.wsgi application-group=first application-group=%{GLOBAL}", apps={"env.wsgi": ENV_APP})
    assert srv.get("/app").json()["mod_wsgi.application_group"] == ""
    if srv.module == "rwsgi":
        srv.wait_for_log(r"WSGIScriptAlias: option 'application-group' is given more than once; the last value is used")


def test_repeated_daemon_option_last_wins_with_warning(apache):
    srv = apache(
        """
        WSGIDaemonProcess rep threads=1 threads=3
        WSGIScriptAlias /app {root}/threads.wsgi process-group=rep
        """,
        apps={"threads.wsgi": "import mod_wsgi\ndef application(e, s):\n    s('200 OK', [])\n    return [str(mod_wsgi.threads_per_process).encode()]\n"},
    )
    assert srv.get("/app").text == "3"
    if srv.module == "rwsgi":
        srv.wait_for_log(r"option 'threads' is given more than once; the last value \('3'\) is used")


# Directives accepted with a start-up warning naming them and why. mod_wsgi
# 4.9.4 does not know the 6.0 ones; they are checked against mod_rwsgi only.
# (WSGIServerMetrics and WSGISlowRequests act now: tests/test_metrics_api.py.)
WARNED = [
    ("WSGIAcceptMutex fcntl", "WSGIAcceptMutex"),
    ("WSGIVerboseDebugging On", "WSGIVerboseDebugging"),
    ("WSGITelemetryService unix:/tmp/telemetry.sock interval=2", "WSGITelemetryService"),
    ("WSGITelemetryOptions +CaptureUserAgent", "WSGITelemetryOptions"),
    ("WSGIPerInterpreterGIL On", "WSGIPerInterpreterGIL"),
    ("WSGIFreeThreading On", "WSGIFreeThreading"),
    ("WSGICaseSensitivity Off", "WSGICaseSensitivity"),
    ("WSGINewRelicConfigFile /etc/newrelic.ini", "WSGINewRelicConfigFile"),
    ("WSGINewRelicEnvironment production", "WSGINewRelicEnvironment"),
    ("<WSGIInterpreterOptions application-group=%{GLOBAL}>\n  WSGIPerInterpreterGIL On\n</WSGIInterpreterOptions>", r"<WSGIInterpreterOptions.*WSGIPerInterpreterGIL inside it needs Python 3\.12"),
    ("WSGIDaemonProcess nr newrelic-config-file=/etc/newrelic.ini threads=1", "option 'newrelic-config-file' is accepted but does nothing"),
]


@pytest.mark.parametrize("line, name", WARNED, ids=[w[1][:30] for w in WARNED])
def test_accepted_with_a_startup_warning(apache, line, name):
    srv = apache(line + "\nWSGIScriptAlias /app {root}/env.wsgi", apps={"env.wsgi": ENV_APP}, start=False)
    rwsgi_only(srv)
    srv.start()
    assert srv.get("/app").status == 200
    srv.wait_for_log(r"\[rwsgi:warn\].*%s" % name)


def test_case_sensitivity_and_pass_apache_request_are_accepted(apache):
    srv = apache("WSGICaseSensitivity On\nWSGIPassApacheRequest Off\nWSGIScriptAlias /app {root}/env.wsgi", apps={"env.wsgi": ENV_APP})
    assert srv.get("/app").json()["request_rec"] == "NoneType"


def test_bad_values_are_refused(apache):
    for line, message in [
        ("WSGIMapHEADToGET Sometimes", "On, Off or Auto"),
        ("WSGISwitchInterval 0", "positive number"),
        ("WSGIAcceptMutex spinlock", "not a lock type"),
        ("<VirtualHost *:1>\nWSGISwitchInterval 0.1\n</VirtualHost>", "cannot occur within <VirtualHost> section"),
    ]:
        srv = apache(line, start=False)
        rwsgi_only(srv)
        rc, out = srv.config_test()
        assert rc != 0 and message in out, (line, out)


ERROR_APP = """\
def application(environ, start_response):
    start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
    return [b"the application's own error body"]
"""


def test_error_override_uses_apache_error_document(apache):
    """WSGIErrorOverride (daemon mode, as in mod_wsgi): the application's
    error response gives way to Apache's ErrorDocument."""
    srv = apache(
        """
        WSGIDaemonProcess eo threads=2
        WSGIScriptAlias /over {root}/err.wsgi process-group=eo
        WSGIScriptAlias /plain {root}/err.wsgi process-group=eo
        ErrorDocument 500 "Apache's error document"
        <Location /over>
            WSGIErrorOverride On
        </Location>
        """,
        apps={"err.wsgi": ERROR_APP},
    )
    r = srv.get("/over")
    assert r.status == 500
    assert b"Apache's error document" in r.body and b"own error body" not in r.body
    r = srv.get("/plain")
    assert r.status == 500 and r.body == b"the application's own error body"


def test_pass_apache_request(apache):
    srv = apache(
        """
        WSGIScriptAlias /on {root}/env.wsgi
        WSGIScriptAlias /off {root}/env.wsgi
        <Location /on>
            WSGIPassApacheRequest On
        </Location>
        """,
        apps={"env.wsgi": ENV_APP},
    )
    if srv.mode == "daemon":
        pytest.skip("embedded mode only, as in mod_wsgi")
    assert srv.get("/on").json()["request_rec"] == "PyCapsule"
    assert srv.get("/off").json()["request_rec"] == "NoneType"


def test_aliased_script_is_never_served_as_a_file(apache):
    """The script a WSGIScriptAlias mounts, also reachable under the
    DocumentRoot: mod_wsgi serves its source there; mod_rwsgi refuses (403,
    with a log line), since scripts hold settings and secrets."""
    srv = apache("WSGIScriptAlias /app {root}/htdocs/app.wsgi", apps={"htdocs/app.wsgi": ENV_APP, "htdocs/other.txt": "text\n"})
    rwsgi_only(srv)
    assert srv.get("/app").status == 200
    mark = srv.log_mark()
    r = srv.get("/app.wsgi")
    assert r.status == 403 and b"def application" not in r.body
    srv.wait_for_log(r"refusing to serve the WSGI script .*htdocs/app\.wsgi \(mounted by WSGIScriptAlias /app\) as a file", since=mark)
    assert srv.get("/other.txt").text == "text\n"
