"""Daemon mode: WSGIDaemonProcess options accepted or refused at
configuration time (apache2 -t, start-up), and server-metrics.
"""

import re

import pytest

from daemon_helpers import APP, EMBEDDED, get_json

# ---- server-metrics ----------------------------------------------------------


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
        ("WSGIDaemonProcess g header-buffer-size=100", r"option 'header-buffer-size': .*at least 8192"),
    ],
    ids=["import-before-group", "duplicate-name", "unknown-option", "chroot", "user-root", "threads-0",
         "header-buffer-size"],
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
