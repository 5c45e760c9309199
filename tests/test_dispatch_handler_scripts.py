"""WSGIDispatchScript (process_group / application_group / callable_object
override the route, the script reloads when it changes) and WSGIHandlerScript
(a handler name served by a script's handle_request, in the shapes
mod_wsgi-express writes: `RewriteRule .* - [H=wsgi-handler]` and
`AddHandler wsgi-resource .ext`). Run against Debian's mod_wsgi too."""

import os
import shutil

import pytest

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


def fixture_config(app_dir, name, files):
    for f in files:
        shutil.copyfile(os.path.join(CONFIGS, f), app_dir.join(f))
        os.chmod(app_dir.join(f), 0o644)
    with open(os.path.join(CONFIGS, name)) as f:
        return f.read().replace("{root}", str(app_dir))


@pytest.fixture
def dispatch_server(apache, app_dir):
    config = fixture_config(app_dir, "dispatch.conf", ["dispatch.wsgi", "site.wsgi"])
    return apache(config=config)


def test_dispatch_script_chooses_callable_and_application_group(dispatch_server):
    srv = dispatch_server
    r = srv.get("/site/")
    assert r.status == 200
    # None keeps the configured values (the default group is %{RESOURCE}).
    assert r.body == b"main group='localhost:%d|/site' callable=application" % srv.port
    r = srv.get("/site/admin/users")
    assert r.body == b"admin group='localhost:%d|/site' callable=admin" % srv.port
    r = srv.get("/site/", headers={"X-App-Group": "tenant1"})
    assert r.body == b"main group='tenant1' callable=application"
    r = srv.get("/site/admin", headers={"X-App-Group": "%{GLOBAL}"})
    assert r.body == b"admin group='' callable=admin"


def test_dispatch_script_reloaded_on_change(dispatch_server, app_dir):
    srv = dispatch_server
    assert srv.get("/site/").body.startswith(b"main ")
    path = app_dir.join("dispatch.wsgi")
    app_dir.write("dispatch.wsgi", "def callable_object(environ):\n    return 'admin'\n")
    st = os.stat(path)
    os.utime(path, (st.st_atime, st.st_mtime + 5))
    assert srv.get("/site/").body.startswith(b"admin ")


@pytest.mark.parametrize(
    "body, log",
    [
        ("def callable_object(environ):\n    raise KeyError('no route')\n", r"KeyError: 'no route'"),
        ("def application_group(environ):\n    return 42\n", r"TypeError: Application group must be a string|TypeError: Application group must be a byte string"),
        ("def process_group(environ)\n", r"SyntaxError"),
    ],
)
def test_dispatch_script_errors_are_500(apache, app_dir, module_under_test, body, log):
    config = fixture_config(app_dir, "dispatch.conf", ["dispatch.wsgi", "site.wsgi"])
    app_dir.write("dispatch.wsgi", body)
    srv = apache(config=config)
    expected = 500
    if module_under_test == "wsgi" and "SyntaxError" in log:
        # mod_wsgi logs a dispatch script that cannot be loaded and serves the
        # request with the configured route anyway; mod_rwsgi refuses (500), as
        # a routing decision it cannot make must not fall back to the default.
        expected = 200
    assert srv.get("/site/").status == expected
    assert srv.wait_for_log(log)
    assert srv.wait_for_log(r"dispatch\.wsgi")


def test_dispatch_script_picks_daemon_process_group(apache, app_dir, module_under_test):
    config = fixture_config(app_dir, "dispatch.conf", ["dispatch.wsgi", "site.wsgi"])
    app_dir.write(
        "dispatch.wsgi",
        "def process_group(environ):\n    return 'pinned' if environ['PATH_INFO'].startswith('/d') else None\n",
    )
    app_dir.write(
        "site.wsgi",
        """
        import os
        def application(environ, start_response):
            start_response('200 OK', [('Content-Type', 'text/plain')])
            return [('%s %d' % (environ['mod_wsgi.process_group'], os.getpid())).encode()]
        """,
    )
    srv = apache(config="WSGIDaemonProcess pinned threads=2\n" + config, mode="embedded")
    embedded = srv.get("/site/e").body.split()
    daemon = srv.get("/site/d").body.split()
    assert embedded[0] == b"" or len(embedded) == 1
    assert daemon[0] == b"pinned"
    assert daemon[-1] != embedded[-1]


HANDLER = """
def handle_request(environ, start_response):
    body = 'handled %s via %s script=%s' % (environ['SCRIPT_NAME'] + environ['PATH_INFO'], environ['mod_wsgi.request_handler'], environ['mod_wsgi.handler_script'])
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]
"""


def test_handler_script_via_rewrite_rule_like_mod_wsgi_express(apache, app_dir):
    """mod_wsgi-express's httpd.conf: static files served from the document
    root, everything else handed to handler.wsgi by RewriteRule [H=]."""
    handler = app_dir.write("handler.wsgi", HANDLER)
    docroot = app_dir.join("htdocs")
    os.makedirs(docroot, mode=0o755)
    app_dir.write("htdocs/static.txt", "static file\n")
    srv = apache(
        config=f"""
        DocumentRoot '{docroot}'
        <Directory '{docroot}'>
            RewriteEngine On
            RewriteOptions InheritDownBefore
            Require all granted
        </Directory>
        <Directory '{docroot}/'>
            RewriteCond %{{REQUEST_FILENAME}} !-f
            RewriteRule .* - [H=wsgi-handler]
        </Directory>
        WSGIHandlerScript wsgi-handler '{handler}' process-group=%{{GLOBAL}} application-group=%{{GLOBAL}}
        """,
        extra_modules=[("rewrite_module", "mod_rewrite.so")],
    )
    assert srv.get("/static.txt").body == b"static file\n"
    r = srv.get("/some/page")
    assert r.status == 200
    assert r.body == ("handled /some/page via wsgi-handler script=%s" % handler).encode()


def test_handler_script_via_add_handler(apache, app_dir):
    """mod_wsgi-express --handler-script: `AddHandler wsgi-resource .ext`."""
    handler = app_dir.write("resource.wsgi", HANDLER)
    app_dir.write("page.res", "not served as a file\n")
    srv = apache(
        config=f"""
        Alias /res {app_dir}
        <Directory {app_dir}>
            Require all granted
            AddHandler wsgi-resource .res
        </Directory>
        WSGIHandlerScript wsgi-resource {handler} application-group=%{{GLOBAL}}
        """,
    )
    r = srv.get("/res/page.res")
    assert r.status == 200
    assert r.body == ("handled /res/page.res via wsgi-resource script=%s" % handler).encode()
    # A handler name with no WSGIHandlerScript is not ours.
    assert srv.get("/res/resource.wsgi").body.startswith(b"\ndef handle_request")


def test_handler_script_in_a_directory_section(apache, app_dir):
    inner = app_dir.write("inner.wsgi", HANDLER.replace("handled", "inner"))
    outer = app_dir.write("outer.wsgi", HANDLER.replace("handled", "outer"))
    os.makedirs(app_dir.join("sub"), mode=0o755)
    app_dir.write("a.x", "")
    app_dir.write("sub/a.x", "")
    srv = apache(
        config=f"""
        Alias /files {app_dir}
        WSGIHandlerScript x-handler {outer}
        <Directory {app_dir}>
            Require all granted
            SetHandler x-handler
        </Directory>
        <Directory {app_dir}/sub>
            WSGIHandlerScript x-handler {inner}
        </Directory>
        """,
    )
    assert srv.get("/files/a.x").body.startswith(b"outer /files/a.x")
    assert srv.get("/files/sub/a.x").body.startswith(b"inner /files/sub/a.x")


def test_handler_script_without_handle_request_is_500(apache, app_dir):
    """A script without its callable is a broken deployment, not a missing
    resource: 500 here (mod_wsgi answers 404), as for WSGIScriptAlias."""
    handler = app_dir.write("empty.wsgi", "x = 1\n")
    srv = apache(
        config=f"""
        <Location /h>
            SetHandler empty-handler
        </Location>
        WSGIHandlerScript empty-handler {handler}
        """,
    )
    assert srv.get("/h").status == (404 if srv.module == "wsgi" else 500)
    assert srv.wait_for_log(r"does not contain WSGI application 'handle_request'")


def test_handler_script_in_a_daemon_group_like_mod_wsgi_express(apache, app_dir):
    """mod_wsgi-express's default: the handler script runs in its daemon group
    (`process-group=localhost:8000`), preloaded by WSGIImportScript."""
    handler = app_dir.write(
        "handler.wsgi",
        HANDLER.replace("body = 'handled", "body = environ['mod_wsgi.process_group'] + ' handled"),
    )
    srv = apache(
        config=f"""
        WSGIRestrictEmbedded On
        WSGIDaemonProcess localhost:8000 threads=2 display-name=%{{GROUP}}
        <Location /app>
            SetHandler wsgi-handler
        </Location>
        WSGIHandlerScript wsgi-handler {handler} process-group=localhost:8000 application-group=%{{GLOBAL}}
        WSGIImportScript {handler} process-group=localhost:8000 application-group=%{{GLOBAL}}
        """,
        mode="embedded",
    )
    r = srv.get("/app/x")
    assert r.status == 200, r.body
    assert r.body == ("localhost:8000 handled /app/x via wsgi-handler script=%s" % handler).encode()


RELOADING_HANDLER = """
import os, time
loaded_at = '%.6f' % time.time()

def reload_required(resource):
    # mod_wsgi-express's handler reloads when its target changes; here: when
    # the mapped resource's name says so.
    if resource.endswith('boom.x'):
        raise RuntimeError('cannot tell')
    return resource.endswith('reload.x')

def handle_request(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [loaded_at.encode()]
"""


@pytest.mark.parametrize("group", ["embedded", "daemon"])
def test_handler_script_reload_required(apache, app_dir, group):
    handler = app_dir.write("reloading.wsgi", RELOADING_HANDLER)
    os.makedirs(app_dir.join("res"), mode=0o755)
    for name in ("keep.x", "reload.x", "boom.x"):
        app_dir.write("res/" + name, "")
    daemon = "WSGIDaemonProcess rl threads=1" if group == "daemon" else ""
    process_group = "process-group=rl" if group == "daemon" else ""
    srv = apache(
        config=f"""
        {daemon}
        Alias /h {app_dir.join('res')}
        <Directory {app_dir.join('res')}>
            Require all granted
            SetHandler reloading
        </Directory>
        WSGIHandlerScript reloading {handler} {process_group} application-group=%{{GLOBAL}}
        """,
        mode="embedded",
        mpm="prefork",
        mpm_config="StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\nMaxRequestWorkers 1",
    )
    first = srv.get("/h/keep.x").body
    assert srv.get("/h/keep.x").body == first
    reloaded = srv.get("/h/reload.x").body
    assert reloaded != first
    assert srv.get("/h/keep.x").body == reloaded
    mark = srv.log_mark()
    # A raising reload_required is logged; the loaded script keeps serving.
    assert srv.get("/h/boom.x").body == reloaded
    assert srv.wait_for_log(r"RuntimeError: cannot tell", since=mark)
