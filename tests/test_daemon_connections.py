"""Daemon mode: the group sockets (files, owner, backlog, who may connect,
WSGISocketRotation) and the connections Apache's children keep to the
daemons (reuse, a one-thread daemon, spreading over processes).
"""

import os
import pwd
import re
import socket
import stat
import subprocess
import time

from daemon_helpers import (
    APP,
    EMBEDDED,
    get_json,
    concurrently,
    socket_dir,
    socket_files,
    socket_path,
    MAIN_GROUPS,
    pid_of,
    NEW_CONNECTION_RE,
)

# ---- sockets (main_srv) ------------------------------------------------------


def test_socket_file(main_srv):
    www = pwd.getpwnam("www-data").pw_uid
    nobody = pwd.getpwnam("nobody").pw_uid
    for gid, name in enumerate(MAIN_GROUPS):
        path = socket_path(main_srv, gid)
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode), path
        assert stat.S_IMODE(st.st_mode) == 0o600, (path, oct(st.st_mode))
        expected = nobody if name == "sockuser" else www
        assert st.st_uid == expected, (name, st.st_uid)
    # Nothing else was created with the prefix.
    socks = socket_files(main_srv)
    assert len(socks) == len(MAIN_GROUPS), socks
    main_srv.wait_for_log(r"starting daemon process group 'basic' \(2 processes x 4 threads\) on " + re.escape(socket_path(main_srv, 0)))


def test_listen_backlog(main_srv):
    def backlog(group):
        out = subprocess.run(["ss", "-xlnH", "src", socket_path(main_srv, MAIN_GROUPS.index(group))],
                             capture_output=True, text=True, check=True).stdout.split()
        return int(out[3])

    assert backlog("sockuser") == 7
    assert backlog("basic") == 100


def test_socket_user_blocks_apache_children(main_srv):
    # The socket belongs to nobody (mode 0600): www-data children cannot connect -> 503 at once.
    mark = main_srv.log_mark()
    t0 = time.monotonic()
    r = main_srv.get("/sockuser/pid")
    assert r.status == 503
    assert time.monotonic() - t0 < 2
    main_srv.wait_for_log(r"unable to connect to daemon process group 'sockuser' .*Permission denied", since=mark)


def test_direct_connection_refused(main_srv):
    path = socket_path(main_srv, MAIN_GROUPS.index("one"))
    mark = main_srv.log_mark()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        try:
            s.sendall(b"\0" * 64)
        except OSError:
            pass
        # The daemon closes the connection without answering.
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        assert data == b""
    main_srv.wait_for_log(
        r"group='one'\): refused a connection: peer pid %d \(uid 0\) presented a wrong secret: it is not an Apache child of this server generation" % os.getpid(),
        since=mark,
    )
    # The (single-threaded) daemon goes on serving.
    r = main_srv.get("/one/pid")
    assert r.status == 200


# ---- kept connections (sup_srv) ----------------------------------------------


def test_connections_are_kept_between_requests(sup_srv):
    mark = sup_srv.log_mark()
    pids = {pid_of(sup_srv, "keep") for _ in range(20)}
    assert len(pids) == 1
    time.sleep(0.2)
    new = re.findall(NEW_CONNECTION_RE % "keep", sup_srv.error_log(mark))
    # Sequential requests: at most one connection per Apache child (ServerLimit 2).
    assert len(new) <= 2, new


def test_one_thread_daemon_takes_every_childs_connections(sup_srv):
    # threads=1: the daemon holds one connection at a time, closing the idle
    # one to take a new one; the request on a closed kept connection is sent
    # again on a new one. Nothing fails and nothing runs twice.
    mark = sup_srv.log_mark()
    for round_ in range(8):
        tags = ["%d-%d" % (round_, i) for i in range(3)]
        results = concurrently(lambda t: sup_srv.get("/keep/sleep?s=0.05&announce=" + t), tags)
        assert [r.status for r in results] == [200] * 3, [(r.status, r.text[:200]) for r in results]
    log = sup_srv.error_log(mark)
    for round_ in range(8):
        for i in range(3):
            assert log.count("SLEEPING %d-%d " % (round_, i)) == 1, (round_, i)
    assert len(re.findall(NEW_CONNECTION_RE % "keep", log)) >= 2
    assert not re.search(r"\[rwsgi:error\].*mod_rwsgi", log), log[-2000:]


def test_kept_connections_spread_over_processes(sup_srv):
    # Each process holds no more connections than it has threads, so four
    # concurrent requests reach both processes of keep2 (2 x 2 threads) and
    # none waits while a process is idle.
    for _ in range(3):
        seen = concurrently(lambda _: get_json(sup_srv, "/keep2/sleep?s=0.3"), range(4))
        assert len({r["pid"] for r in seen}) == 2, seen


# ---- a server of its own -----------------------------------------------------


def test_socket_rotation_off(apache):
    srv = apache(
        """
        WSGISocketRotation Off
        WSGIDaemonProcess first threads=1
        WSGIDaemonProcess second threads=1 user=nobody group=nogroup home=/tmp
        WSGIScriptAlias /first {root}/app.wsgi process-group=first application-group=%{GLOBAL}
        WSGIScriptAlias /second {root}/app.wsgi process-group=second application-group=%{GLOBAL}
        """,
        apps={"app.wsgi": APP},
        **EMBEDDED,
    )
    www = pwd.getpwnam("www-data").pw_uid
    nobody = pwd.getpwnam("nobody").pw_uid
    p1 = os.path.join(socket_dir(srv), "wsgi.%d.u%d.0.sock" % (srv.pid, www))
    p2 = os.path.join(socket_dir(srv), "wsgi.%d.u%d.1.sock" % (srv.pid, nobody))
    # Apache accepts on its port once the first (dry-run) configuration pass has
    # bound it, before the second pass creates the daemon sockets: answered
    # requests prove the second pass is done.
    assert srv.get("/first/pid").status == 200
    assert srv.get("/second/pid").status == 200
    for p in (p1, p2):
        st = os.stat(p)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_uid == www
    # The name survives a graceful restart.
    srv.graceful()
    assert os.path.exists(p1) and os.path.exists(p2)
    assert srv.get("/first/pid").status == 200
