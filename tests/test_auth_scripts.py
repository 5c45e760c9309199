"""The script hooks that run in the Apache child, as mod_wsgi runs them:
the `wsgi` authentication provider (WSGIAuthUserScript, Basic and Digest),
`Require wsgi-group` (WSGIAuthGroupScript), WSGIAccessScript, and their
errors. Every test runs against Debian's mod_wsgi too (--module=wsgi)."""

import base64
import hashlib
import os
import subprocess
import time

import pytest

AUTH_MODULES = [
    ("authn_core_module", "mod_authn_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("auth_basic_module", "mod_auth_basic.so"),
    ("auth_digest_module", "mod_auth_digest.so"),
]

# The application behind the protected location: who Apache says the user is.
WHO_APP = """
def application(environ, start_response):
    body = ('user=%s type=%s' % (environ.get('REMOTE_USER'), environ.get('AUTH_TYPE'))).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
"""

# check_password and get_realm_hash: alice/secret is known; bob is refused
# outright; carol is known under another name; anyone else is unknown.
USER_SCRIPT = """
import hashlib

def check_password(environ, user, password):
    environ['wsgi.errors'].write('checking %s for %s\\n' % (user, environ['REQUEST_URI']))
    assert 'HTTP_AUTHORIZATION' not in environ
    assert environ['mod_wsgi.process_group'] == ''
    if user == 'alice':
        return password == 'secret'
    if user == 'bob':
        return False
    if user == 'carol' and password == 'pw':
        return 'carol-renamed'
    if user == 'boom':
        raise RuntimeError('auth script failed for ' + user)
    if user == 'weird':
        return 42
    return None

def get_realm_hash(environ, user, realm):
    if user == 'alice':
        return hashlib.md5(('%s:%s:%s' % (user, realm, 'secret')).encode()).hexdigest()
    if user == 'boom':
        raise ValueError('digest script failed')
    return None
"""

GROUP_SCRIPT = """
def groups_for_user(environ, user):
    return {'alice': ['staff', 'admins'], 'carol-renamed': ['staff']}.get(user, [])
"""


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


def protected(app_dir, provider="Basic", extra=""):
    app_dir.write("who.wsgi", WHO_APP)
    user_script = app_dir.write("auth_user.wsgi", USER_SCRIPT)
    return f"""
    WSGIScriptAlias /private {app_dir.join('who.wsgi')}
    <Location /private>
        AuthType {provider}
        AuthName "Private Area"
        Auth{provider}Provider wsgi
        WSGIAuthUserScript {user_script}
        {extra}
        Require valid-user
    </Location>
    """


@pytest.fixture
def auth_server(apache, app_dir):
    return apache(config=protected(app_dir), extra_modules=AUTH_MODULES)


def test_basic_auth_with_check_password(auth_server):
    srv = auth_server
    r = srv.get("/private")
    assert r.status == 401
    assert 'Basic realm="Private Area"' in r.header("WWW-Authenticate")
    r = srv.get("/private", headers=basic("alice", "secret"))
    assert (r.status, r.body) == (200, b"user=alice type=Basic")
    assert srv.wait_for_log(r"checking alice for /private")
    assert srv.get("/private", headers=basic("alice", "wrong")).status == 401
    assert srv.get("/private", headers=basic("bob", "anything")).status == 401
    # None: unknown to this provider.
    assert srv.get("/private", headers=basic("nobody", "x")).status == 401
    assert srv.wait_for_log(r"user nobody not found")
    # A string names the user.
    r = srv.get("/private", headers=basic("carol", "pw"))
    assert (r.status, r.body) == (200, b"user=carol-renamed type=Basic")


def test_auth_script_that_raises_is_500_with_traceback(auth_server):
    srv = auth_server
    mark = srv.log_mark()
    r = srv.get("/private", headers=basic("boom", "x"))
    assert r.status == 500
    assert srv.wait_for_log(r"Exception occurred processing WSGI script '.*auth_user\.wsgi'", since=mark)
    assert srv.wait_for_log(r"RuntimeError: auth script failed for boom", since=mark)
    assert srv.log_lines(r"Traceback \(most recent call last\)", since=mark)
    # The wrong type is an error too.
    mark = srv.log_mark()
    assert srv.get("/private", headers=basic("weird", "x")).status == 500
    assert srv.wait_for_log(r"Basic auth provider must return True, False None or user name as string", since=mark)
    # And the server still serves.
    assert srv.get("/private", headers=basic("alice", "secret")).status == 200


def curl(*args):
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *args], capture_output=True, text=True, timeout=20)
    return int(out.stdout)


def test_digest_auth_with_get_realm_hash(apache, app_dir):
    srv = apache(config=protected(app_dir, provider="Digest"), extra_modules=AUTH_MODULES)
    url = srv.url("/private")
    assert curl(url) == 401
    assert curl("--digest", "-u", "alice:secret", url) == 200
    assert curl("--digest", "-u", "alice:wrong", url) == 401
    assert curl("--digest", "-u", "nobody:x", url) == 401
    mark = srv.log_mark()
    assert curl("--digest", "-u", "boom:x", url) == 500
    assert srv.wait_for_log(r"ValueError: digest script failed", since=mark)


def test_missing_function_is_500_with_log_line(apache, app_dir):
    app_dir.write("who.wsgi", WHO_APP)
    script = app_dir.write("digest_only.wsgi", "def get_realm_hash(environ, user, realm):\n    return None\n")
    srv = apache(
        config=f"""
        WSGIScriptAlias /private {app_dir.join('who.wsgi')}
        <Location /private>
            AuthType Basic
            AuthName x
            AuthBasicProvider wsgi
            WSGIAuthUserScript {script}
            Require valid-user
        </Location>
        """,
        extra_modules=AUTH_MODULES,
    )
    assert srv.get("/private", headers=basic("alice", "secret")).status == 500
    assert srv.wait_for_log(r"Target WSGI user authentication script '.*digest_only\.wsgi' does not provide 'Basic' auth provider")


def test_unloadable_auth_script_is_500(apache, app_dir):
    app_dir.write("who.wsgi", WHO_APP)
    script = app_dir.write("broken.wsgi", "def check_password(environ, user, password)\n    return True\n")
    srv = apache(config=protected(app_dir).replace(app_dir.join("auth_user.wsgi"), script), extra_modules=AUTH_MODULES)
    assert srv.get("/private", headers=basic("alice", "secret")).status == 500
    assert srv.wait_for_log(r"SyntaxError")


def test_auth_script_reloaded_on_change(apache, app_dir):
    srv = apache(config=protected(app_dir), extra_modules=AUTH_MODULES)
    assert srv.get("/private", headers=basic("dave", "pw")).status == 401
    path = app_dir.join("auth_user.wsgi")
    app_dir.write("auth_user.wsgi", USER_SCRIPT.replace("if user == 'bob':", "if user == 'dave':\n        return True\n    if user == 'bob':"))
    st = os.stat(path)
    os.utime(path, (st.st_atime, st.st_mtime + 5))
    assert srv.get("/private", headers=basic("dave", "pw")).status == 200


def group_config(app_dir, require):
    group_script = app_dir.write("auth_group.wsgi", GROUP_SCRIPT)
    return protected(app_dir, extra=f"WSGIAuthGroupScript {group_script}").replace("Require valid-user", require)


@pytest.mark.parametrize(
    "require, user, password, status",
    [
        ("Require wsgi-group admins", "alice", "secret", 200),
        ("Require wsgi-group admins", "carol", "pw", 401),
        ("Require wsgi-group nobody staff", "carol", "pw", 200),
        ("Require wsgi-group 'staff'", "carol", "pw", 200),
        ("Require wsgi-group admins", None, None, 401),
    ],
)
def test_require_wsgi_group(apache, app_dir, require, user, password, status):
    srv = apache(config=group_config(app_dir, require), extra_modules=AUTH_MODULES)
    headers = basic(user, password) if user else None
    assert srv.get("/private", headers=headers).status == status


def test_require_wsgi_group_logs_why(apache, app_dir):
    srv = apache(config=group_config(app_dir, "Require wsgi-group admins"), extra_modules=AUTH_MODULES)
    assert srv.get("/private", headers=basic("carol", "pw")).status == 401
    assert srv.wait_for_log(r"Authorization of user 'carol-renamed' to access '/private' failed\. User is not a member of designated groups\.")


def test_group_authoritative_is_accepted(apache, app_dir, module_under_test):
    config = group_config(app_dir, "Require wsgi-group admins").replace("Require wsgi-group", "WSGIGroupAuthoritative Off\n        Require wsgi-group")
    srv = apache(config=config, extra_modules=AUTH_MODULES)
    assert srv.get("/private", headers=basic("alice", "secret")).status == 200
    assert srv.get("/private", headers=basic("carol", "pw")).status == 401
    if module_under_test == "rwsgi":
        # It has no effect with Apache 2.4's providers (in mod_wsgi neither): said once at start.
        assert srv.wait_for_log(r"WSGIGroupAuthoritative has no effect \(.*httpd\.conf:\d+\)")


ACCESS_SCRIPT = """
def allow_access(environ, host):
    uri = environ['REQUEST_URI']
    environ['wsgi.errors'].write('access from %s to %s\\n' % (host, uri))
    if uri.startswith('/deny'):
        return False
    if uri.startswith('/allow'):
        return True
    if uri.startswith('/boom'):
        raise RuntimeError('access script failed')
    if uri.startswith('/odd'):
        return 'yes'
    return None
"""


def test_access_script(apache, app_dir):
    app_dir.write("who.wsgi", WHO_APP)
    script = app_dir.write("access.wsgi", ACCESS_SCRIPT)
    srv = apache(
        config=f"""
        WSGIScriptAliasMatch ^/(deny|allow|boom|odd|undecided|closed) {app_dir.join('who.wsgi')}
        <Directory {app_dir}>
            Require all granted
        </Directory>
        <LocationMatch "^/(deny|allow|boom|odd|undecided)">
            WSGIAccessScript {script}
        </LocationMatch>
        <Location /closed>
            WSGIAccessScript {script}
            Require all denied
        </Location>
        """,
    )
    assert srv.get("/allow").status == 200
    assert srv.wait_for_log(r"access from 127\.0\.0\.1 to /allow")
    assert srv.get("/undecided").status == 200
    mark = srv.log_mark()
    assert srv.get("/deny").status == 403
    assert srv.wait_for_log(r"Client denied by server configuration: '.*who\.wsgi'", since=mark)
    # None leaves the decision to the rest of the configuration.
    assert srv.get("/closed").status == 403
    mark = srv.log_mark()
    assert srv.get("/boom").status == 403
    assert srv.wait_for_log(r"RuntimeError: access script failed", since=mark)
    mark = srv.log_mark()
    assert srv.get("/odd").status == 403
    assert srv.wait_for_log(r"Indicator of host accessibility returned from '.*access\.wsgi' must a boolean or None", since=mark)


def test_hook_scripts_share_the_application_group(apache, app_dir):
    """A hook script is loaded in the application group it names (default
    %{GLOBAL}), where module state persists across requests."""
    app_dir.write("who.wsgi", WHO_APP)
    script = app_dir.write(
        "counting.wsgi",
        """
        import sys
        calls = []
        def check_password(environ, user, password):
            calls.append(user)
            environ['wsgi.errors'].write('group=%r calls=%d interp=%s\\n' % (environ['mod_wsgi.application_group'], len(calls), sys.__name__))
            return True
        """,
    )
    srv = apache(
        config=f"""
        WSGIScriptAlias /a {app_dir.join('who.wsgi')}
        WSGIScriptAlias /b {app_dir.join('who.wsgi')}
        <Location /a>
            AuthType Basic
            AuthName a
            AuthBasicProvider wsgi
            WSGIAuthUserScript {script}
            Require valid-user
        </Location>
        <Location /b>
            AuthType Basic
            AuthName b
            AuthBasicProvider wsgi
            WSGIAuthUserScript {script} application-group=site-b
            Require valid-user
        </Location>
        """,
        extra_modules=AUTH_MODULES,
        mpm="prefork",
        mpm_config="StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\nMaxRequestWorkers 1",
    )
    assert srv.get("/a", headers=basic("u", "p")).status == 200
    assert srv.get("/a", headers=basic("u", "p")).status == 200
    assert srv.get("/b", headers=basic("u", "p")).status == 200
    assert srv.wait_for_log(r"group='' calls=2")
    assert srv.wait_for_log(r"group='site-b' calls=1")


def test_auth_script_runs_with_restrict_embedded(apache, app_dir):
    """WSGIRestrictEmbedded On keeps applications out of Apache's children, but
    auth scripts still run there (mod_wsgi initialises Python for them)."""
    config = protected(app_dir).replace(
        f"WSGIScriptAlias /private {app_dir.join('who.wsgi')}",
        f"WSGIRestrictEmbedded On\nWSGIDaemonProcess authd threads=2\nWSGIScriptAlias /private {app_dir.join('who.wsgi')} process-group=authd",
    )
    srv = apache(config=config, extra_modules=AUTH_MODULES, mode="embedded")
    assert srv.get("/private").status == 401
    r = srv.get("/private", headers=basic("alice", "secret"))
    assert (r.status, r.body) == (200, b"user=alice type=Basic")
    assert srv.get("/private", headers=basic("alice", "wrong")).status == 401


BAD = [
    ("<Location /x>\nWSGIAuthUserScript\n</Location>", r"WSGIAuthUserScript"),
    ("<Location /x>\nWSGIAccessScript /s.wsgi process-group=x\n</Location>", r"WSGIAccessScript"),
    ("<Location /x>\nWSGIAuthGroupScript /s.wsgi application-group=\n</Location>", r"WSGIAuthGroupScript"),
    ("<Location /x>\nWSGIGroupAuthoritative maybe\n</Location>", r"WSGIGroupAuthoritative"),
    ("WSGIHandlerScript only-a-name", r"WSGIHandlerScript"),
    ("WSGIHandlerScript h /s.wsgi pass-authorization=maybe", r"WSGIHandlerScript"),
    ("WSGIDispatchScript /s.wsgi callable-object=x", r"WSGIDispatchScript"),
]


@pytest.mark.parametrize("line, message", BAD)
def test_bad_hook_directive_fails_config_test(module_under_test, line, message):
    import test_directives

    # mod_wsgi's messages do not name the directive; ours do (checked for mod_rwsgi).
    test_directives.test_bad_directive_fails_config_test(module_under_test, line, message if module_under_test == "rwsgi" else "")


DUMP_ENV_SCRIPT = """
import json, os

def _dump(environ, name):
    out = {k: [type(v).__name__, v if isinstance(v, (str, int, tuple)) else None] for k, v in environ.items()}
    path = os.path.join(os.path.dirname(__file__), name)
    with open(path + '.tmp', 'w') as f:
        json.dump(out, f)
    os.rename(path + '.tmp', path)

def allow_access(environ, host):
    _dump(environ, 'access.json')
    return None

def check_password(environ, user, password):
    _dump(environ, 'user.json')
    return True

def groups_for_user(environ, user):
    _dump(environ, 'group.json')
    return ['g']
"""

# Keys that differ on purpose or by nature: the module names itself; the
# client's port changes with every connection.
HOOK_ENV_DIFFERENT = {"SERVER_SOFTWARE", "SERVER_SIGNATURE", "mod_rwsgi.version", "apache.version", "REMOTE_PORT"}


def hook_environs(module, tmp):
    import json

    from harness import ApacheServer

    os.makedirs(tmp, mode=0o777, exist_ok=True)
    os.chmod(tmp, 0o777)
    script = os.path.join(tmp, "dump.wsgi")
    with open(script, "w") as f:
        f.write(DUMP_ENV_SCRIPT)
    os.chmod(script, 0o644)
    with open(os.path.join(tmp, "who.wsgi"), "w") as f:
        f.write(WHO_APP)
    os.chmod(os.path.join(tmp, "who.wsgi"), 0o644)
    srv = ApacheServer(
        module=module,
        mode="embedded",
        extra_modules=AUTH_MODULES,
        config=f"""
        WSGIScriptAlias /private {tmp}/who.wsgi
        <Location /private>
            WSGIAccessScript {script}
            AuthType Basic
            AuthName x
            AuthBasicProvider wsgi
            WSGIAuthUserScript {script}
            WSGIAuthGroupScript {script}
            Require wsgi-group g
        </Location>
        """,
    )
    try:
        srv.start()
        r = srv.get("/private/x?y=1", headers=dict(basic("alice", "pw"), **{"X-Extra": "1", "Content-Type": "text/plain"}))
        assert r.status == 200, r.body
        result = {}
        for name in ("access", "user", "group"):
            with open(os.path.join(tmp, name + ".json")) as f:
                result[name] = json.load(f)
        return result, (srv.port, srv.root)
    finally:
        srv.stop(check_log=False)
        srv.cleanup()


@pytest.mark.skipif(not os.path.exists("/usr/lib/apache2/modules/mod_wsgi.so"), reason="Debian's mod_wsgi is not installed")
def test_hook_environ_matches_mod_wsgi(app_dir):
    ours, (our_port, our_root) = hook_environs("rwsgi", app_dir.join("rwsgi"))
    theirs, (their_port, their_root) = hook_environs("wsgi", app_dir.join("wsgi"))
    for phase in ("access", "user", "group"):
        mine, ref = ours[phase], theirs[phase]
        # Everything mod_wsgi gives these scripts is here, with the same value.
        for key, (kind, value) in ref.items():
            if key in HOOK_ENV_DIFFERENT:
                continue
            assert key in mine, (phase, key)
            if key == "wsgi.errors":  # a log stream of our own type (README)
                continue
            if isinstance(value, str):
                value = value.replace(str(their_port), str(our_port)).replace(their_root, our_root)
                value = value.replace(app_dir.join("wsgi"), app_dir.join("rwsgi"))
            assert mine[key] == [kind, value], (phase, key, mine[key], ref[key])
        # No credentials reach them.
        assert "HTTP_AUTHORIZATION" not in mine


SSL_SCRIPT = """
def allow_access(environ, host):
    https = environ['mod_ssl.is_https']()
    value = environ['mod_ssl.var_lookup']('HTTPS')
    environ['wsgi.errors'].write('is_https=%r HTTPS=%r\\n' % (https, value))
    try:
        environ['mod_ssl.var_lookup'](42)
    except TypeError as e:
        environ['wsgi.errors'].write('TypeError: %s\\n' % e)
    return True
"""


def ssl_config(app_dir):
    app_dir.write("who.wsgi", WHO_APP)
    script = app_dir.write("ssl.wsgi", SSL_SCRIPT)
    return f"""
        WSGIScriptAlias /x {app_dir.join('who.wsgi')}
        <Directory {app_dir}>
            Require all granted
        </Directory>
        <Location /x>
            WSGIAccessScript {script}
        </Location>
        """


def test_access_script_mod_ssl_accessors_without_mod_ssl(apache, app_dir):
    srv = apache(config=ssl_config(app_dir))
    assert srv.get("/x").status == 200
    assert srv.wait_for_log(r"is_https=0 HTTPS=None")
    assert srv.wait_for_log(r"TypeError: byte string value expected, value of type int found")


def test_access_script_mod_ssl_accessors_over_https(apache, app_dir):
    import socket

    cert, key = app_dir.join("cert.pem"), app_dir.join("key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    os.chmod(key, 0o644)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        tls_port = s.getsockname()[1]
    srv = apache(
        config=ssl_config(app_dir) + f"""
        Listen 127.0.0.1:{tls_port}
        <VirtualHost 127.0.0.1:{tls_port}>
            SSLEngine on
            SSLCertificateFile {cert}
            SSLCertificateKeyFile {key}
        </VirtualHost>
        """,
        extra_modules=[("socache_shmcb_module", "mod_socache_shmcb.so"), ("ssl_module", "mod_ssl.so")],
    )
    assert curl("-k", "https://127.0.0.1:%d/x" % tls_port) == 200
    assert srv.wait_for_log(r"is_https=1 HTTPS='on'")
    mark = srv.log_mark()
    assert srv.get("/x").status == 200
    assert srv.wait_for_log(r"is_https=0 HTTPS='off'", since=mark)


def test_auth_user_script_in_htaccess(apache, app_dir):
    """OR_AUTHCFG: the auth directives are allowed in .htaccess with
    `AllowOverride AuthConfig` (shared hosting sets sites up so)."""
    app_dir.write("who.wsgi", WHO_APP)
    script = app_dir.write("auth_user.wsgi", USER_SCRIPT)
    app_dir.write(
        ".htaccess",
        f"""
        AuthType Basic
        AuthName "htaccess area"
        AuthBasicProvider wsgi
        WSGIAuthUserScript {script}
        Require valid-user
        """,
    )
    srv = apache(
        config=f"""
        Alias /site {app_dir}
        <Directory {app_dir}>
            AllowOverride AuthConfig
            Options +ExecCGI
            AddHandler wsgi-script .wsgi
        </Directory>
        """,
        extra_modules=AUTH_MODULES,
    )
    assert srv.get("/site/who.wsgi").status == 401
    r = srv.get("/site/who.wsgi", headers=basic("alice", "secret"))
    assert (r.status, r.body) == (200, b"user=alice type=Basic")
    assert srv.get("/site/who.wsgi", headers=basic("alice", "nope")).status == 401
