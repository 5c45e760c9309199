"""Daemon mode: WSGIDaemonProcess options accepted or refused at
configuration time (apache2 -t, start-up), and server-metrics.
"""

import re
import shutil
import subprocess

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


# ---- socket buffers ----------------------------------------------------------


def established_send_buffers(pid):
    """SO_SNDBUF (as the kernel holds it: doubled) of each connected Unix
    socket process `pid` has open, from `ss -xm`."""
    out = subprocess.run(["ss", "-xmpH", "state", "established"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        m = re.search(r"\btb(\d+)", line)
        if m and re.search(r"pid=%d," % pid, line):
            found.append(int(m.group(1)))
    return found


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to read socket buffers")
def test_send_buffer_size_reaches_the_daemons_connections(apache):
    """send-buffer-size= sets the send buffer of each connection a daemon
    accepts (on the listening socket alone it would not: a Unix connection
    starts with the system's default), and without it both ends ask for
    fdpass::SEND_BUFFER (512 KiB, which the kernel doubles)."""
    with open("/proc/sys/net/core/wmem_max") as f:
        wmem_max = int(f.read())
    kernel = lambda asked: 2 * min(asked, wmem_max)  # noqa: E731 - what SO_SNDBUF becomes
    config = """
        WSGIDaemonProcess sbdefault threads=2
        WSGIDaemonProcess sbgiven threads=2 send-buffer-size=300000
        WSGIScriptAlias /sbdefault {root}/app.wsgi process-group=sbdefault application-group=%{GLOBAL}
        WSGIScriptAlias /sbgiven {root}/app.wsgi process-group=sbgiven application-group=%{GLOBAL}
        """
    srv = apache(config, apps={"app.wsgi": APP}, **EMBEDDED)
    # The Apache child keeps each connection after its response, so the
    # daemon's end stays open to be read.
    default_pid = int(srv.get("/sbdefault/pid").body)
    given_pid = int(srv.get("/sbgiven/pid").body)
    assert established_send_buffers(default_pid) == [kernel(512 << 10)]
    assert established_send_buffers(given_pid) == [kernel(300000)]
    # The daemons carry Apache's command line too: the rest are its children.
    children = set(srv._our_pids()) - {srv.pid, default_pid, given_pid}
    child_buffers = [b for pid in children for b in established_send_buffers(pid)]
    assert sorted(child_buffers) == [kernel(512 << 10)] * 2, child_buffers
