"""Directive parsing: every malformed value or unknown option fails
`apache2 -t` with a message naming the directive, the option and the line."""

import pytest

from harness import ApacheServer

BAD = [
    ("WSGIScriptAlias /app", r"WSGIScriptAlias takes a URL path and a script file or directory"),
    ("WSGIScriptAlias /app /srv/app.wsgi foo=bar", r"WSGIScriptAlias: unknown option 'foo'"),
    ("WSGIScriptAlias /app /srv/app.wsgi junk", r"WSGIScriptAlias: invalid option 'junk'"),
    ("WSGIScriptAlias /app /srv/app.wsgi pass-authorization=maybe", r"option 'pass-authorization': 'maybe' must be On or Off"),
    ("WSGIScriptAlias /app /srv/app.wsgi callable-object=not.valid", r"option 'callable-object': 'not.valid' is not a Python identifier"),
    ("WSGIScriptAlias /app /srv/app.wsgi process-group=", r"option 'process-group' needs a value"),
    ("WSGIScriptAlias /app /srv/app.wsgi application-group=%{NOPE}", r"option 'application-group': invalid value '%\{NOPE\}'"),
    ("WSGIScriptAliasMatch ^/(unclosed /srv/$1.wsgi", r"WSGIScriptAliasMatch: '\^/\(unclosed' is not a valid regular expression"),
    ("WSGIApplicationGroup %{BOGUS}", r"WSGIApplicationGroup: invalid value '%\{BOGUS\}'"),
    ("WSGIProcessGroup %{ENV:}", r"WSGIProcessGroup: invalid value"),
    ("WSGICallableObject 1abc", r"WSGICallableObject: '1abc' is not a Python identifier"),
    ("WSGIPythonOptimize 3", r"WSGIPythonOptimize: '3' is not 0, 1 or 2"),
    ("WSGIPythonHashSeed abc", r"WSGIPythonHashSeed: 'abc' is not 'random' or an integer"),
    ("WSGIChunkedRequest maybe", r"WSGIChunkedRequest must be On or Off"),
    ("WSGIScriptReloading 1", r"WSGIScriptReloading must be On or Off"),
    # mod_wsgi 4.9.4 words it "must be one of: Off | On".
    ("WSGIDestroyInterpreter maybe", r"WSGIDestroyInterpreter must be (On or Off|one of: Off \| On)"),
    ("<VirtualHost 127.0.0.1:1>\nWSGIDestroyInterpreter Off\n</VirtualHost>", r"WSGIDestroyInterpreter cannot occur within <VirtualHost> section"),
    ("WSGIApplicationGroup", r"WSGIApplicationGroup takes one argument"),
    ("<VirtualHost 127.0.0.1:1>\nWSGIPythonHome /usr\n</VirtualHost>", r"WSGIPythonHome cannot occur within <VirtualHost> section"),
    ("<Location /x>\nWSGIScriptAlias /x /srv/x.wsgi\n</Location>", r"WSGIScriptAlias not allowed in <Location> context"),
    ("WSGINoSuchDirective On", r"Invalid command 'WSGINoSuchDirective'"),
]


@pytest.mark.parametrize("line, message", BAD)
def test_bad_directive_fails_config_test(module_under_test, line, message):
    import re

    srv = ApacheServer(module=module_under_test, config=line)
    try:
        rc, out = srv.config_test()
    finally:
        srv.cleanup()
    assert rc != 0, out
    assert re.search(r"Syntax error on line \d+ of .*httpd\.conf", out), out
    assert re.search(message, out), out


def test_good_directives_pass_config_test(module_under_test):
    srv = ApacheServer(
        module=module_under_test,
        config="""
        WSGIScriptAlias /a /srv/a.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL} callable-object=app pass-authorization=On
        WSGIScriptAliasMatch ^/b/([^/]+) /srv/$1.wsgi application-group=%{RESOURCE}
        WSGIApplicationGroup %{ENV:APPGROUP}
        WSGIProcessGroup %{GLOBAL}
        WSGICallableObject application
        WSGIPythonHome /usr
        WSGIPythonPath /srv/lib:/srv/lib2
        WSGIPythonOptimize 1
        WSGIPythonHashSeed 4294967295
        WSGIDontWriteBytecode On
        WSGIPassAuthorization Off
        WSGIChunkedRequest On
        WSGIScriptReloading Off
        WSGIRestrictStdin On
        WSGIRestrictStdout Off
        WSGILazyInitialization On
        <Directory /srv>
            WSGIApplicationGroup site
            WSGICallableObject app
        </Directory>
        """,
    )
    try:
        rc, out = srv.config_test()
    finally:
        srv.cleanup()
    assert rc == 0 and "Syntax OK" in out, out


def test_named_application_groups_are_interpreters_without_a_warning(apache):
    srv = apache(
        """
        WSGIScriptAlias /a {root}/a.wsgi application-group=site-a
        WSGIApplicationGroup site-b
        """,
        apps={"a.wsgi": "import mod_wsgi\ndef application(e, s):\n    s('200 OK', [])\n    return [mod_wsgi.application_group.encode()]\n"},
    )
    assert srv.get("/a").body == b"site-a"
    assert not srv.log_lines(r"application groups other than")
    assert srv.wait_for_log(r"Create interpreter 'site-a'")
