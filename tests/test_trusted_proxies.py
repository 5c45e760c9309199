"""WSGITrustedProxyHeaders and WSGITrustedProxies: the six header families
rewrite their CGI variables only when the peer is a trusted proxy, forwarded
chains are walked right to left, and every header of a listed family is
removed otherwise. Each case runs against Debian's mod_wsgi 4.9.4 too
(--module=wsgi, and test_same_answers_as_mod_wsgi side by side); the one
place where 4.9.4 differs (it leaves X-Forwarded-Port and X-Forwarded-Server
from untrusted peers in the environ, which mod_wsgi 6 removes) is asserted
per module.

The tests can only connect from loopback, so the peer is always 127.0.0.1
(or ::1): what varies is whether the configured list contains it."""

import http.client
import json
import os
import socket

import pytest

from harness import ApacheServer, MOD_WSGI_PATH, TESTS_DIR, free_port

pytestmark = pytest.mark.both_modes  # rerun in daemon mode (see conftest.py)

DUMP = """
import json
def application(environ, start_response):
    keys = ("REMOTE_ADDR", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME", "PATH_INFO",
            "wsgi.url_scheme", "HTTPS", "mod_wsgi.mount_point", "mod_wsgi.script_name")
    out = {k: environ[k] for k in keys if k in environ}
    out.update((k, v) for k, v in environ.items() if k.startswith("HTTP_X"))
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(out).encode()]
"""

# name, CGI variable, the variable it rewrites, the value sent, the value expected there.
HEADERS = [
    ("X-Forwarded-For", "HTTP_X_FORWARDED_FOR", "REMOTE_ADDR", "203.0.113.1", "203.0.113.1"),
    ("X-Client-IP", "HTTP_X_CLIENT_IP", "REMOTE_ADDR", "203.0.113.2", "203.0.113.2"),
    ("X-Real-IP", "HTTP_X_REAL_IP", "REMOTE_ADDR", "203.0.113.3", "203.0.113.3"),
    ("X-Forwarded-Proto", "HTTP_X_FORWARDED_PROTO", "wsgi.url_scheme", "https", "https"),
    ("X-Forwarded-Scheme", "HTTP_X_FORWARDED_SCHEME", "wsgi.url_scheme", "https", "https"),
    ("X-Scheme", "HTTP_X_SCHEME", "wsgi.url_scheme", "https", "https"),
    ("X-Forwarded-HTTPS", "HTTP_X_FORWARDED_HTTPS", "wsgi.url_scheme", "on", "https"),
    ("X-Forwarded-SSL", "HTTP_X_FORWARDED_SSL", "wsgi.url_scheme", "true", "https"),
    ("X-HTTPS", "HTTP_X_HTTPS", "wsgi.url_scheme", "1", "https"),
    ("X-Forwarded-Host", "HTTP_X_FORWARDED_HOST", "HTTP_HOST", "www.example.com", "www.example.com"),
    ("X-Host", "HTTP_X_HOST", "HTTP_HOST", "other.example.com:8443", "other.example.com:8443"),
    ("X-Forwarded-Port", "HTTP_X_FORWARDED_PORT", "SERVER_PORT", "443", "443"),
    ("X-Forwarded-Server", "HTTP_X_FORWARDED_SERVER", "SERVER_NAME", "www.example.com", "www.example.com"),
    ("X-Script-Name", "HTTP_X_SCRIPT_NAME", "SCRIPT_NAME", "/mount", "/mount"),
    ("X-Forwarded-Script-Name", "HTTP_X_FORWARDED_SCRIPT_NAME", "SCRIPT_NAME", "/other", "/other"),
]
FAMILY = {name: target for name, _, target, _, _ in HEADERS}
SPOOFED = {name: value for name, _, _, value, _ in HEADERS}
VARIABLE = {name: variable for name, variable, _, _, _ in HEADERS}
# Headers mod_wsgi 4.9.4 does not remove from an untrusted peer's request.
KEPT_BY_494 = {"HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_SERVER"}


def slug(name):
    return name.lower()


def config():
    lines = ["WSGIScriptAlias / {root}/env.wsgi"]
    for name, *_ in HEADERS:
        for where, proxies in (("trusted", "10.0.0.0/8 127.0.0.1"), ("untrusted", "10.0.0.0/8 ::1"), ("anyone", None)):
            lines += ["<Location /%s/%s>" % (where, slug(name)), "    WSGITrustedProxyHeaders %s" % name]
            if proxies:
                lines.append("    WSGITrustedProxies %s" % proxies)
            lines.append("</Location>")
    lines.append("""
<Location /chain>
    WSGITrustedProxyHeaders X-Forwarded-For
    WSGITrustedProxies 127.0.0.1 10.0.0.0/8 192.168.0.0/255.255.0.0
</Location>
<Location /chain-anyone>
    WSGITrustedProxyHeaders X-Forwarded-For
</Location>
<Location /two>
    WSGITrustedProxyHeaders X-Forwarded-For
    WSGITrustedProxyHeaders X-Real-IP
    WSGITrustedProxies 10.0.0.0/8
    WSGITrustedProxies 127.0.0.0/24
</Location>
<Location /two/replaced>
    WSGITrustedProxies 10.0.0.0/8
</Location>
<Location /two/legacy>
    WSGITrustedProxies 127
</Location>
<Location /nobody>
    WSGITrustedProxyHeaders X-Real-IP
    WSGITrustedProxies
</Location>
""")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def srv(request):
    module = request.config.getoption("--module") or os.environ.get("RWSGI_TEST_MODULE", "rwsgi")
    server = ApacheServer(module=module, config=config(), apps={"env.wsgi": DUMP})
    if module == "wsgi":
        server.bad_log_patterns = []  # 4.9.4's child-exit crash (see test_environ.py)
    server.start()
    yield server
    server.stop(check_log=module != "wsgi")
    server.cleanup()


def env_of(srv, path, headers):
    r = srv.get(path, headers=headers)
    assert r.status == 200, (path, r)
    return r.json()


@pytest.mark.parametrize("name", [h[0] for h in HEADERS])
def test_trusted_peer_rewrites_and_keeps_only_the_applied_header(srv, name):
    env = env_of(srv, "/trusted/%s/p" % slug(name), SPOOFED)
    target, expected = FAMILY[name], dict((h[0], h[4]) for h in HEADERS)[name]
    assert env[target] == expected, env
    assert env[VARIABLE[name]] == SPOOFED[name]
    for other, variable, other_target, *_ in HEADERS:
        if other_target == target and other != name:
            assert variable not in env, (variable, env)  # a synonym of the applied header
        elif other_target != target:
            assert env[variable] == SPOOFED[other]  # other families are not listed here
    assert "HTTPS" not in env  # it only decides wsgi.url_scheme
    if target == "SCRIPT_NAME":
        assert env["mod_wsgi.mount_point"] == expected
        assert env["mod_wsgi.script_name"] == "" and env["PATH_INFO"] == "/trusted/%s/p" % slug(name)
    else:
        assert "mod_wsgi.mount_point" not in env


@pytest.mark.parametrize("name", [h[0] for h in HEADERS])
def test_untrusted_peer_changes_nothing_and_loses_the_family(srv, name):
    path = "/untrusted/%s/p" % slug(name)
    env, plain = env_of(srv, path, SPOOFED), env_of(srv, path, {})
    target = FAMILY[name]
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["wsgi.url_scheme"] == "http"
    for key in ("HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME"):
        assert env[key] == plain[key], key
    assert "mod_wsgi.mount_point" not in env
    for other, variable, other_target, *_ in HEADERS:
        if other_target != target:
            assert env[variable] == SPOOFED[other]
        elif srv.module == "wsgi" and variable in KEPT_BY_494:
            assert env[variable] == SPOOFED[other]  # 4.9.4 has no port/server family to remove
        else:
            assert variable not in env, (variable, env)


@pytest.mark.parametrize("name", [h[0] for h in HEADERS])
def test_without_a_proxy_list_every_peer_is_trusted(srv, name):
    env = env_of(srv, "/anyone/%s/p" % slug(name), SPOOFED)
    assert env[FAMILY[name]] == dict((h[0], h[4]) for h in HEADERS)[name]


def test_unlisted_headers_pass_untouched(srv):
    env = env_of(srv, "/plain", SPOOFED)
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["wsgi.url_scheme"] == "http"
    assert all(env[variable] == SPOOFED[name] for name, variable, *_ in HEADERS)


CHAINS = [
    # (X-Forwarded-For sent, REMOTE_ADDR, X-Forwarded-For the application sees)
    ("203.0.113.9", "203.0.113.9", "203.0.113.9"),
    ("198.51.100.1, 203.0.113.9", "203.0.113.9", "203.0.113.9"),
    ("198.51.100.1, 203.0.113.9, 10.1.1.1", "203.0.113.9", "203.0.113.9, 10.1.1.1"),
    ("198.51.100.1,203.0.113.9,192.168.1.1,10.1.1.1", "203.0.113.9", "203.0.113.9, 192.168.1.1, 10.1.1.1"),
    ("10.0.0.1, 203.0.113.9, 10.0.0.2", "203.0.113.9", "203.0.113.9, 10.0.0.2"),
    ("10.0.0.1, 10.0.0.2", "10.0.0.1", "10.0.0.1, 10.0.0.2"),
    ("203.0.113.9, unknown, 10.0.0.2", "unknown", "unknown, 10.0.0.2"),
    ("2001:db8::1, 10.0.0.3", "2001:db8::1", "2001:db8::1, 10.0.0.3"),
]


@pytest.mark.parametrize("sent,client,chain", CHAINS)
def test_forwarded_chain_walks_right_to_left(srv, sent, client, chain):
    env = env_of(srv, "/chain", {"X-Forwarded-For": sent, "X-Real-IP": "1.1.1.1"})
    assert (env["REMOTE_ADDR"], env["HTTP_X_FORWARDED_FOR"]) == (client, chain)
    assert "HTTP_X_REAL_IP" not in env


def test_forwarded_chain_without_a_proxy_list_takes_the_first_entry(srv):
    env = env_of(srv, "/chain-anyone", {"X-Forwarded-For": "203.0.113.9, 10.0.0.1"})
    assert (env["REMOTE_ADDR"], env["HTTP_X_FORWARDED_FOR"]) == ("203.0.113.9", "203.0.113.9, 10.0.0.1")


def test_repeated_lines_add_and_sections_replace(srv):
    # Two lines of each directive in one section: both lists apply; the later
    # listed header of a family wins when both are present.
    env = env_of(srv, "/two", {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.7"})
    assert env["REMOTE_ADDR"] == "203.0.113.7" and "HTTP_X_FORWARDED_FOR" not in env
    env = env_of(srv, "/two", {"X-Forwarded-For": "203.0.113.9"})
    assert env["REMOTE_ADDR"] == "203.0.113.9"
    # A nested section's list replaces the inherited one (10/8 alone: untrusted).
    env = env_of(srv, "/two/replaced", {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.7"})
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert "HTTP_X_FORWARDED_FOR" not in env and "HTTP_X_REAL_IP" not in env
    # APR's legacy network form: "127" is 127.0.0.0/8.
    assert env_of(srv, "/two/legacy", {"X-Real-IP": "203.0.113.7"})["REMOTE_ADDR"] == "203.0.113.7"


def test_empty_proxy_list_trusts_nobody(srv):
    env = env_of(srv, "/nobody", {"X-Real-IP": "203.0.113.7"})
    assert env["REMOTE_ADDR"] == "127.0.0.1" and "HTTP_X_REAL_IP" not in env


def test_http_from_the_proxy_and_unknown_values(srv):
    env = env_of(srv, "/trusted/x-forwarded-proto", {"X-Forwarded-Proto": "http"})
    assert env["wsgi.url_scheme"] == "http" and "HTTPS" not in env
    env = env_of(srv, "/trusted/x-forwarded-proto", {"X-Forwarded-Proto": "gopher"})
    assert env["wsgi.url_scheme"] == "http" and env["HTTP_X_FORWARDED_PROTO"] == "gopher"
    env = env_of(srv, "/trusted/x-forwarded-ssl", {"X-Forwarded-SSL": "Off"})
    assert env["wsgi.url_scheme"] == "http"


def test_underscore_spelling_cannot_smuggle_a_header(srv):
    # Apache leaves header names with '_' out of the CGI variables, so
    # X_Forwarded_For cannot pose as X-Forwarded-For.
    env = env_of(srv, "/untrusted/x-forwarded-for", {"X_Forwarded_For": "203.0.113.9", "X_Real_IP": "1.2.3.4"})
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert not any(k.startswith(("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP")) for k in env)


def test_ipv6_peer(apache, app_dir):
    """A peer connecting over ::1 is trusted by an IPv6 entry and not by an IPv4 one."""
    port6 = free_port()
    srv = apache(
        """
        Listen [::1]:%d
        WSGIScriptAlias / {root}/env.wsgi
        WSGITrustedProxyHeaders X-Real-IP
        WSGITrustedProxies ::1/128
        <Location /v4>
            WSGITrustedProxies 127.0.0.1 ::2
        </Location>
        """ % port6,
        apps={"env.wsgi": DUMP},
    )

    def get6(path):
        conn = http.client.HTTPConnection("::1", port6, timeout=10)
        try:
            conn.request("GET", path, headers={"X-Real-IP": "203.0.113.5", "Host": "localhost"})
            r = conn.getresponse()
            assert r.status == 200
            return json.loads(r.read())
        finally:
            conn.close()

    assert get6("/")["REMOTE_ADDR"] == "203.0.113.5"
    env = get6("/v4")
    assert env["REMOTE_ADDR"] == "::1" and "HTTP_X_REAL_IP" not in env
    # Over IPv4 the ::1/128 list does not trust 127.0.0.1.
    env = srv.get("/", headers={"X-Real-IP": "203.0.113.5"}).json()
    assert env["REMOTE_ADDR"] == "127.0.0.1" and "HTTP_X_REAL_IP" not in env


def test_htaccess(apache):
    srv = apache(
        """
        WSGIScriptAlias /ht/ {root}/ht/
        <Directory {root}/ht>
            AllowOverride FileInfo
        </Directory>
        """,
        start=False,
    )
    srv.write_file("ht/env.wsgi", DUMP)
    srv.write_file("ht/.htaccess", "WSGITrustedProxyHeaders X-Forwarded-Host\nWSGITrustedProxies 127.0.0.1\n")
    srv.start()
    for _ in range(3):  # the .htaccess lists are made per request
        env = srv.get("/ht/env.wsgi", headers={"X-Forwarded-Host": "www.example.com", "X-Host": "evil"}).json()
        assert env["HTTP_HOST"] == "www.example.com" and "HTTP_X_HOST" not in env


@pytest.mark.parametrize(
    "line,rwsgi_message,wsgi_message",
    [
        ("WSGITrustedProxies localhost", "WSGITrustedProxies: 'localhost' is not an IP address or network",
         'Unable to parse trusted proxy IP address/subnet of "localhost"'),
        ("WSGITrustedProxies 10.0.0.0/33", "WSGITrustedProxies: '10.0.0.0/33' is not an IP address or network: the mask",
         'Unable to parse trusted proxy IP address/subnet of "10.0.0.0/33"'),
        ("WSGITrustedProxies 10.0.0.1 proxy.example.com", "'proxy.example.com' is not an IP address or network",
         'Unable to parse trusted proxy IP address/subnet of "proxy.example.com"'),
    ],
)
def test_bad_addresses_are_refused(apache, line, rwsgi_message, wsgi_message):
    srv = apache(line, start=False)
    rc, out = srv.config_test()
    assert rc != 0
    assert (wsgi_message if srv.module == "wsgi" else rwsgi_message) in out, out


def test_bad_header_name_is_refused(apache):
    # mod_wsgi 4.9.4 accepts this and stores a null name, which it later
    # dereferences (seen: its child dies on the first request, the client gets
    # no response); refusing it is the safe reading.
    srv = apache("WSGITrustedProxyHeaders X_Forwarded_For", start=False)
    if srv.module == "wsgi":
        pytest.skip("mod_wsgi accepts this name (and crashes on the first request that uses it)")
    rc, out = srv.config_test()
    assert rc != 0 and "'X_Forwarded_For' is not a header name" in out, out


def test_unknown_header_is_ignored_with_a_warning(apache):
    srv = apache(
        """
        WSGIScriptAlias / {root}/env.wsgi
        WSGITrustedProxyHeaders X-Forwarded-Prefix X-Real-IP
        WSGITrustedProxies 127.0.0.1
        """,
        apps={"env.wsgi": DUMP},
    )
    env = srv.get("/", headers={"X-Forwarded-Prefix": "/p", "X-Real-IP": "203.0.113.5"}).json()
    assert env["REMOTE_ADDR"] == "203.0.113.5" and env["HTTP_X_FORWARDED_PREFIX"] == "/p"
    if srv.module == "rwsgi":
        assert srv.log_lines(r"WSGITrustedProxyHeaders: 'X-Forwarded-Prefix' is not one of the proxy headers")


def test_untrusted_peer_is_logged_at_debug(apache):
    srv = apache(
        """
        WSGIScriptAlias / {root}/env.wsgi
        WSGITrustedProxyHeaders X-Forwarded-For
        WSGITrustedProxies 10.0.0.0/8
        """,
        apps={"env.wsgi": DUMP},
    )
    if srv.module == "wsgi":
        pytest.skip("the log line is mod_rwsgi's")
    assert srv.get("/", headers={"X-Forwarded-For": "1.2.3.4"}).json()["REMOTE_ADDR"] == "127.0.0.1"
    assert srv.wait_for_log(r"127\.0\.0\.1 is not a trusted proxy \(WSGITrustedProxies\): removed HTTP_X_FORWARDED_FOR")


# ---- the reverse-proxy fixture, against both modules ----------------------

FIXTURE = os.path.join(TESTS_DIR, "configs", "reverse-proxy.conf")

PROXIED = {"X-Forwarded-For": "198.51.100.20, 203.0.113.50", "X-Forwarded-Proto": "https",
           "X-Forwarded-Host": "shop.example.com", "X-Forwarded-Port": "443", "X-Script-Name": "/store",
           "X-Real-IP": "6.6.6.6"}


def fixture_server(module, proxies):
    with open(FIXTURE) as f:
        text = f.read().replace("{proxies}", proxies)
    srv = ApacheServer(module=module, config=text)
    srv.write_file("site/app.wsgi", DUMP)
    if module == "wsgi":
        srv.bad_log_patterns = []
    return srv


def fixture_answers(module, proxies):
    srv = fixture_server(module, proxies)
    srv.start()
    try:
        out = []
        for path in ("/", "/shop/cart"):
            r = srv.get(path, headers=PROXIED)
            assert r.status == 200, (module, path, r)
            env = r.json()
            env["HTTP_HOST"] = env["HTTP_HOST"].replace(str(srv.port), "{port}")
            env["SERVER_PORT"] = env["SERVER_PORT"].replace(str(srv.port), "{port}")
            out.append(env)
        srv.stop(check_log=module != "wsgi")
        return out
    finally:
        srv.stop(check_log=False)
        srv.cleanup()


def test_reverse_proxy_fixture(module_under_test):
    # Behind the proxy (Apache sees the proxy, 127.0.0.1, as its peer).
    root, shop = fixture_answers(module_under_test, "127.0.0.1 10.0.0.0/8")
    assert root["REMOTE_ADDR"] == "203.0.113.50" and root["HTTP_X_FORWARDED_FOR"] == "203.0.113.50"
    assert root["wsgi.url_scheme"] == "https" and root["HTTP_HOST"] == "shop.example.com" and root["SERVER_PORT"] == "443"
    assert "HTTP_X_REAL_IP" not in root  # a synonym the proxy did not send on our behalf
    # X-Script-Name is only trusted under /shop.
    assert root["SCRIPT_NAME"] == "" and root["HTTP_X_SCRIPT_NAME"] == "/store"
    assert shop["SCRIPT_NAME"] == "/store" and shop["mod_wsgi.mount_point"] == "/store"
    assert shop["PATH_INFO"] == "/shop/cart" and shop["mod_wsgi.script_name"] == ""
    # A client reaching Apache directly, around the proxy: nothing is believed.
    root, shop = fixture_answers(module_under_test, "10.0.0.0/8")
    for env in (root, shop):
        assert env["REMOTE_ADDR"] == "127.0.0.1" and env["wsgi.url_scheme"] == "http"
        assert env["HTTP_HOST"] == "127.0.0.1:{port}" and env["SERVER_PORT"] == "{port}"
        assert not {"HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST"} & set(env)
    assert shop["SCRIPT_NAME"] == "" and "HTTP_X_SCRIPT_NAME" not in shop
    if module_under_test == "wsgi":
        assert root["HTTP_X_FORWARDED_PORT"] == "443"  # 4.9.4 leaves it
    else:
        assert "HTTP_X_FORWARDED_PORT" not in root


@pytest.mark.skipif(not os.path.exists(MOD_WSGI_PATH), reason="Debian's mod_wsgi is not installed")
@pytest.mark.parametrize("proxies", ["127.0.0.1 10.0.0.0/8", "10.0.0.0/8"])
def test_same_answers_as_mod_wsgi(proxies):
    ours, theirs = fixture_answers("rwsgi", proxies), fixture_answers("wsgi", proxies)
    for mine, ref in zip(ours, theirs):
        if "10.0.0.0/8" == proxies:
            # By design: mod_wsgi 6's port family, which 4.9.4 lacks.
            assert ref.pop("HTTP_X_FORWARDED_PORT") == "443" and "HTTP_X_FORWARDED_PORT" not in mine
        assert mine == ref


SNAKEOIL = ("/etc/ssl/certs/ssl-cert-snakeoil.pem", "/etc/ssl/private/ssl-cert-snakeoil.key")


@pytest.mark.skipif(not all(os.path.exists(p) for p in SNAKEOIL), reason="Debian's ssl-cert snakeoil pair is not installed")
def test_scheme_header_and_mod_ssl(apache):
    """Apache's connection to the proxy is TLS; the proxy says what the client used."""
    import ssl

    tls_port = free_port()
    srv = apache(
        """
        Listen 127.0.0.1:%d
        <VirtualHost 127.0.0.1:%d>
            SSLEngine on
            SSLCertificateFile %s
            SSLCertificateKeyFile %s
            WSGIScriptAlias / {root}/env.wsgi
            WSGITrustedProxyHeaders X-Forwarded-Proto
            WSGITrustedProxies 127.0.0.1
        </VirtualHost>
        """ % (tls_port, tls_port, *SNAKEOIL),
        apps={"env.wsgi": DUMP},
        extra_modules=[("ssl_module", "mod_ssl.so"), ("socache_shmcb_module", "mod_socache_shmcb.so")],
    )
    context = ssl._create_unverified_context()

    def scheme(headers):
        conn = http.client.HTTPSConnection("127.0.0.1", tls_port, timeout=10, context=context)
        try:
            conn.request("GET", "/", headers=headers)
            r = conn.getresponse()
            assert r.status == 200
            env = json.loads(r.read())
            assert "HTTPS" not in env
            return env["wsgi.url_scheme"]
        finally:
            conn.close()

    assert scheme({}) == "https"
    assert scheme({"X-Forwarded-Proto": "https"}) == "https"
    # mod_wsgi 6 (and mod_rwsgi) let the trusted proxy's "http" win; 4.9.4
    # sets HTTPS from mod_ssl after the proxy headers.
    assert scheme({"X-Forwarded-Proto": "http"}) == ("https" if srv.module == "wsgi" else "http")


def test_setenv_https_decides_the_scheme(apache):
    srv = apache(
        """
        WSGIScriptAlias / {root}/env.wsgi
        <Location /on>
            SetEnv HTTPS on
        </Location>
        <Location /one>
            SetEnv HTTPS 1
        </Location>
        <Location /off>
            SetEnv HTTPS off
        </Location>
        """,
        apps={"env.wsgi": DUMP},
        extra_modules=[("env_module", "mod_env.so")],
    )
    for path, expected in (("/on", "https"), ("/one", "https"), ("/off", "http"), ("/", "http")):
        env = srv.get(path).json()
        assert (env["wsgi.url_scheme"], "HTTPS" in env) == (expected, False), path
