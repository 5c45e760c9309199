"""Daemon mode as a trust boundary (issue 10, points 1, 4, 8 and 10).

- A request frame forged by code in an Apache child (an embedded app) and
  written on the child's own kept, authenticated connection to a group is
  refused unless the configuration routes that script to the group, and
  script-user= is applied by the daemon itself.
- A daemon process holds nothing of Apache's: its memory has no
  configuration secret and no TLS key of the parent, its maps no Apache
  binary, module or shared memory, its descriptors nothing the parent has
  open but its socket, the error log and /dev/null; its environment is the
  parent's process environment, as mod_wsgi's daemons have it.
- The peer check works under /proc mounted hidepid=2 (a private mount
  namespace).
- Sockets live in a private directory another local user cannot squat.
"""

import os
import pwd
import re
import secrets
import socket
import stat
import subprocess

import pytest

import harness
from daemon_helpers import EMBEDDED, socket_dir, socket_path
from harness import ApacheServer

VICTIM, THIRD, SQUAT = "rwsgi-victim", "rwsgi-third", "rwsgi-squat"


def ensure_user(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
        return pwd.getpwnam(name)


WHO_APP = r'''
import json, os
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"pid": os.getpid(), "uid": os.getuid(), "script": __file__}).encode()]
'''

# Runs if a daemon ever imports it: leaves a file behind.
EVIL_APP = r'''
import os
open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pwned", "%d" % os.getpid()), "w").close()
def application(environ, start_response):
    start_response("200 OK", [])
    return [b"pwned"]
'''

# An embedded application that plays the attacker: it finds its own Apache
# child's kept connection to a group's socket (already past the peer check)
# and writes a hand-made Request frame on it. The layout is the current
# Request payload (crates/protocol/src/codec.rs encode_request).
FORGE_APP = r'''
import json, os, socket, struct, time
from urllib.parse import parse_qs

def b(x):
    return struct.pack("<I", len(x)) + x

def request_frame(script, group):
    # Wire format version 2; flags; request start, queue start, mtime, deadline (0: none).
    p = struct.pack("<H", 2) + b"\0" + struct.pack("<qqqq", 0, int(time.time() * 1e6), 0, 0) + struct.pack("<HH", 80, 1)
    for x in (script, b"/forged", b"http", b"wsgi-script", b"127.0.0.1", b"forged-id", b"127.0.0.1:9"):
        p += b(x)
    for x in (group, b"", b"application"):
        p += b(x)
    p += b"\0"
    env = [(b"REQUEST_METHOD", b"GET"), (b"SERVER_NAME", b"localhost"), (b"SERVER_PORT", b"80"),
           (b"SERVER_PROTOCOL", b"HTTP/1.1"), (b"SCRIPT_NAME", b"/forged"), (b"PATH_INFO", b""),
           (b"QUERY_STRING", b""), (b"REQUEST_URI", b"/forged"), (b"REMOTE_ADDR", b"127.0.0.1")]
    p += struct.pack("<I", len(env)) + b"".join(b(k) + b(v) for k, v in env)
    # Frame header: payload length, kind (Request), request id.
    return struct.pack("<IBQ", len(p), 1, 7) + p

def kept_connection(path):
    for fd in map(int, os.listdir("/proc/self/fd")):
        try:
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if s.family == socket.AF_UNIX and s.getpeername() == path:
                return s
        except OSError:
            pass
        s.close()
    return None

def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data

def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    out = {"found": False, "kinds": [], "fail": None}
    s = kept_connection(q["sock"])
    if s is not None:
        out["found"] = True
        s.settimeout(10)
        s.sendall(request_frame(q["script"].encode(), q["group"].encode()))
        while True:
            h = read_exact(s, 13)
            if h is None:
                out["kinds"].append("eof")
                break
            n, kind, _request = struct.unpack("<IBQ", h)
            payload = read_exact(s, n) if n else b""
            out["kinds"].append(kind)
            if kind == 9:
                out["fail"] = struct.unpack("<H", payload[:2])[0]
            if kind in (7, 8, 9):
                break
        s.close()
        if out["kinds"][:1] in (["eof"], [11]):
            # A kept connection the daemon had already closed (Goodbye): try another time.
            out["found"] = False
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(out).encode()]
'''

KIND_HEAD, KIND_END, KIND_FAIL = 5, 7, 9


@pytest.fixture(scope="module")
def forge_srv():
    victim, third = ensure_user(VICTIM), ensure_user(THIRD)
    srv = ApacheServer(
        config="""
        WSGIDaemonProcess victim user=%s home=/ threads=2 script-user=%s
        WSGIScriptAlias /victim/ {root}/victim/ process-group=victim application-group=%%{GLOBAL}
        WSGIDaemonProcess open threads=2
        WSGIScriptAlias /open {root}/open/app.wsgi process-group=open application-group=%%{GLOBAL}
        WSGIScriptAlias /forge {root}/forge.wsgi
        """ % (VICTIM, VICTIM),
        apps={"victim/app.wsgi": WHO_APP, "victim/evil.wsgi": EVIL_APP, "open/app.wsgi": WHO_APP,
              "third/evil.wsgi": EVIL_APP, "forge.wsgi": FORGE_APP},
        # One child process, so the forging app shares the child's kept connections.
        mpm_config="StartServers 1\nServerLimit 1\nThreadLimit 4\nThreadsPerChild 4\nMinSpareThreads 1\nMaxSpareThreads 4\nMaxRequestWorkers 4",
        **EMBEDDED,
    )
    for d, owner in (("victim", victim), ("third", third)):
        os.chown(srv.path(d), owner.pw_uid, owner.pw_gid)
        for f in os.listdir(srv.path(d)):
            os.chown(srv.path(d, f), owner.pw_uid, owner.pw_gid)
    # A script inside the victim's routed directory, but owned by the third user.
    os.chown(srv.path("victim", "evil.wsgi"), third.pw_uid, third.pw_gid)
    os.makedirs(srv.path("pwned"), exist_ok=True)
    os.chmod(srv.path("pwned"), 0o777)
    srv.start()
    yield srv
    srv.stop()
    srv.cleanup()


def forge(srv, group_index, group, script, warm):
    """Sends a forged frame from the embedded app on the child's kept connection to `group`."""
    path = socket_path(srv, group_index)
    for _ in range(10):
        r = srv.get(warm)
        assert r.status == 200, r.text[:300]
        r = srv.get("/forge?sock=%s&group=%s&script=%s" % (path, group, script))
        assert r.status == 200, r.text[:300]
        out = r.json()
        if out["found"]:
            return out
    raise AssertionError("the embedded app never found a kept connection to %s" % path)


LOG_LINE = r"^\[\w{3} \w{3} \d\d \d\d:\d\d:\d\d\.\d{6} \d{4}\] \[rwsgi:error\] \[pid \d+:tid \d+\] \[client 127\.0\.0\.1:9\] mod_rwsgi \(pid=\d+, group='%s'\): refusing a request for daemon process group '%s': "


def test_forged_frame_for_an_unrouted_script_is_refused(forge_srv):
    srv = forge_srv
    mark = srv.log_mark()
    evil = srv.path("third", "evil.wsgi")
    out = forge(srv, 0, "victim", evil, "/victim/app.wsgi")
    assert out["kinds"] == [KIND_FAIL] and out["fail"] == 403, out
    srv.wait_for_log((LOG_LINE % ("victim", "victim")) + re.escape("'%s' is not in a script location the configuration routes to this group" % evil), since=mark)
    # The same for a group without script-user=: only the location protects it.
    out = forge(srv, 1, "open", evil, "/open")
    assert out["kinds"] == [KIND_FAIL] and out["fail"] == 403, out
    srv.wait_for_log((LOG_LINE % ("open", "open")) + re.escape("'%s' is not in a script location" % evil), since=mark)
    assert os.listdir(srv.path("pwned")) == []


def test_forged_frame_applies_script_user_in_the_daemon(forge_srv):
    srv = forge_srv
    mark = srv.log_mark()
    evil = srv.path("victim", "evil.wsgi")  # in the routed directory, owned by the third user
    out = forge(srv, 0, "victim", evil, "/victim/app.wsgi")
    assert out["kinds"] == [KIND_FAIL] and out["fail"] == 403, out
    srv.wait_for_log(
        (LOG_LINE % ("victim", "victim")) + re.escape("'%s' is not owned by user %d" % (evil, pwd.getpwnam(VICTIM).pw_uid)), since=mark)
    assert os.listdir(srv.path("pwned")) == []
    # Apache itself refuses it as well (403 in the child).
    assert srv.get("/victim/evil.wsgi").status == 403


def test_forged_frame_naming_another_group_is_refused(forge_srv):
    srv = forge_srv
    mark = srv.log_mark()
    out = forge(srv, 0, "open", srv.path("victim", "app.wsgi"), "/victim/app.wsgi")
    assert out["kinds"] == [KIND_FAIL] and out["fail"] == 403, out
    srv.wait_for_log((LOG_LINE % ("victim", "victim")) + re.escape("the request names process group 'open'"), since=mark)


def test_forged_frame_for_a_routed_script_is_served(forge_srv):
    # The control: the forging mechanism works, so the refusals above are the daemon's checks.
    out = forge(forge_srv, 1, "open", forge_srv.path("open", "app.wsgi"), "/open")
    assert out["kinds"][0] == KIND_HEAD and out["kinds"][-1] == KIND_END, out
    r = forge_srv.get("/victim/app.wsgi")
    assert r.status == 200 and r.json()["uid"] == pwd.getpwnam(VICTIM).pw_uid


# ---- point 4: nothing of Apache's in a daemon ---------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_memory(pid):
    """Every readable mapping of `pid` (as root), concatenated per region."""
    chunks = []
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if perms[0] != "r" or line.rstrip().endswith(("[vvar]", "[vsyscall]", "[vvar_vclock]")):
                continue
            start, end = (int(x, 16) for x in addr.split("-"))
            try:
                mem.seek(start)
                chunks.append(mem.read(end - start))
            except (OSError, ValueError, OverflowError):
                pass
    return b"".join(chunks)


def fd_targets(pid):
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out[int(fd)] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            pass
    return out


def rsa_prime(key_path):
    text = subprocess.run(["openssl", "rsa", "-in", key_path, "-noout", "-text"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"prime1:\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    return bytes.fromhex(re.sub(r"[\s:]", "", m.group(1))).lstrip(b"\0")


@pytest.fixture(scope="module")
def ssl_srv():
    marker_define = "rwsgi-define-" + secrets.token_hex(12)
    marker_setenv = "rwsgi-setenv-" + secrets.token_hex(12)
    marker_env = "rwsgi-environ-" + secrets.token_hex(12)
    port = free_port()
    srv = ApacheServer(
        config="""
        Define RWSGI_ISOLATION_DEFINE %s
        Listen 127.0.0.1:%d
        SSLSessionCache shmcb:{root}/ssl_scache(512000)
        <VirtualHost 127.0.0.1:%d>
            SSLEngine on
            SSLCertificateFile {root}/cert.pem
            SSLCertificateKeyFile {root}/key.pem
            # Only this virtual host's requests carry it (none goes to the daemon).
            SetEnv RWSGI_ISOLATION_SETENV %s
        </VirtualHost>
        CustomLog {root}/access.log "%%h %%r %%>s"
        WSGIDaemonProcess iso user=nobody group=nogroup home=/ threads=2
        WSGIScriptAlias /iso {root}/iso.wsgi process-group=iso application-group=%%{GLOBAL}
        """ % (marker_define, port, port, marker_setenv),
        apps={"iso.wsgi": WHO_APP},
        extra_modules=[("socache_shmcb_module", "mod_socache_shmcb.so"), ("ssl_module", "mod_ssl.so"),
                       ("env_module", "mod_env.so")],
        env={"RWSGI_ISOLATION_ENV": marker_env},
        **EMBEDDED,
    )
    key = srv.path("key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", srv.path("cert.pem"),
                    "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
    os.chmod(key, 0o600)
    srv.start()
    srv.markers = [m.encode() for m in (marker_define, marker_setenv, marker_env)]
    prime = rsa_prime(key)
    srv.prime_forms = [prime, prime[::-1]]
    yield srv
    srv.stop()
    srv.cleanup()


def test_daemon_memory_holds_no_parent_secret(ssl_srv):
    srv = ssl_srv
    d = srv.get("/iso").json()
    assert d["uid"] == pwd.getpwnam("nobody").pw_uid
    parent = read_memory(srv.proc.pid)
    # The controls: the scan finds the secrets where they are.
    for m in srv.markers[:2]:
        assert m in parent, m
    assert any(p in parent for p in srv.prime_forms), "the TLS key's prime is not in the parent's memory: the scan is broken"
    daemon = read_memory(d["pid"])
    assert len(daemon) > 1 << 20
    # The process environment is passed on, as mod_wsgi's daemons have it
    # (envvars is how sites configure applications): its marker is checked below.
    for m in srv.markers[:2]:
        assert m not in daemon, m
    for p in srv.prime_forms:
        assert p not in daemon, "the TLS private key is in the daemon's memory"
    with open("/proc/%d/environ" % srv.proc.pid, "rb") as f:
        assert srv.markers[2] in f.read()
    with open("/proc/%d/environ" % d["pid"], "rb") as f:
        env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
    assert srv.markers[2] in b"".join(env.values()), "Apache's process environment, as with mod_wsgi"
    assert env[b"HOME"] == pwd.getpwnam("nobody").pw_dir.encode()
    assert env[b"LANG"] == b"C" and b"PATH" in env


def test_daemon_maps_and_descriptors_hold_nothing_of_apaches(ssl_srv):
    srv = ssl_srv
    pid = srv.get("/iso").json()["pid"]
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read().splitlines()
    metrics_maps = 0
    for line in maps:
        fields = line.split(None, 5)
        path = fields[5] if len(fields) > 5 else ""
        assert "apache2" not in path and "mod_" not in path, line
        # Read-only shared mappings of system files (glibc's gconv cache) are the
        # daemon's own; the one writable shared mapping is its own group's
        # metrics region (a memfd the parent made for this group alone; the
        # Apache children's region is an anonymous mapping an exec drops).
        if path.startswith("/memfd:rwsgi-metrics"):
            metrics_maps += 1
            continue
        assert fields[1][1:4:2] != "ws", "writable shared mapping in the daemon: " + line
        assert "SYSV" not in path and "/dev/zero" not in path and "scache" not in path, line
    assert metrics_maps == 1, maps
    daemon_fds, parent_fds = fd_targets(pid), fd_targets(srv.proc.pid)
    assert daemon_fds[0] == daemon_fds[1] == "/dev/null"
    assert daemon_fds[2] == srv.error_log_path
    assert daemon_fds[4].startswith("socket:"), daemon_fds
    # Nothing open in the daemon is shared with the parent but its socket, the
    # error log and /dev/null (the parent's access log, listeners, pipes and
    # shared memory are not there).
    shared = set(daemon_fds.values()) & set(parent_fds.values()) - {daemon_fds[4], srv.error_log_path, "/dev/null"}
    assert not shared, (shared, daemon_fds)
    assert not any("access.log" in t or "scache" in t for t in daemon_fds.values()), daemon_fds
    # Its sockets are Unix sockets (no inherited TCP listener).
    tcp = open("/proc/net/tcp").read() + open("/proc/net/tcp6").read()
    for t in daemon_fds.values():
        if t.startswith("socket:["):
            assert " %s " % t[8:-1] not in tcp, t


# ---- point 8: hidepid=2 --------------------------------------------------------


def test_peer_check_under_hidepid(tmp_path, monkeypatch):
    # Apache runs in a private mount namespace whose /proc is a new instance
    # mounted hidepid=2 (the host's /proc is untouched).
    wrapper = tmp_path / "apache2-hidepid"
    wrapper.write_text('#!/bin/sh\nexec unshare -m --propagation private sh -c \'mount -t proc -o hidepid=2 proc /proc && exec /usr/sbin/apache2 "$@"\' apache2 "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(harness, "APACHE_BIN", str(wrapper))
    app = WHO_APP.replace('"script": __file__', '"parent_visible": os.path.exists("/proc/%d" % os.getppid())')
    srv = ApacheServer(
        config="""
        WSGIDaemonProcess hidden user=nobody group=nogroup home=/ threads=1
        WSGIScriptAlias /hidden {root}/app.wsgi process-group=hidden application-group=%{GLOBAL}
        """,
        apps={"app.wsgi": app},
        **EMBEDDED,
    )
    try:
        srv.start()
        r = srv.get("/hidden")
        assert r.status == 200, r.text[:300]
        d = r.json()
        assert d["uid"] == pwd.getpwnam("nobody").pw_uid
        # hidepid=2 is in force: the daemon cannot see its (root) parent's /proc entry.
        assert d["parent_visible"] is False
    finally:
        srv.stop()
        srv.cleanup()


# ---- point 10: socket squatting ------------------------------------------------


def as_user(user, *cmd):
    return subprocess.run(list(cmd), user=user, capture_output=True, text=True)


def squat_server(prefix_dir_mode):
    ensure_user(SQUAT)
    srv = ApacheServer(
        config="""
        WSGISocketPrefix {root}/shared/wsgi
        WSGIDaemonProcess g threads=1
        WSGIScriptAlias /g {root}/app.wsgi process-group=g application-group=%{GLOBAL}
        """,
        apps={"app.wsgi": WHO_APP},
        **EMBEDDED,
    )
    os.makedirs(srv.path("shared"))
    os.chmod(srv.path("shared"), prefix_dir_mode)
    return srv


def test_squatted_socket_directory_is_a_clear_startup_error():
    srv = squat_server(0o1777)
    try:
        # Another local user takes the private directory's name before Apache starts.
        assert as_user(SQUAT, "mkdir", srv.path("shared", "wsgi.d")).returncode == 0
        with pytest.raises(RuntimeError) as e:
            srv.start()
        assert "belongs to uid %d" % pwd.getpwnam(SQUAT).pw_uid in str(e.value), str(e.value)[-2000:]
        # A symbolic link there is refused too (never followed).
        os.rmdir(srv.path("shared", "wsgi.d"))
        assert as_user(SQUAT, "ln", "-s", "/tmp", srv.path("shared", "wsgi.d")).returncode == 0
        with pytest.raises(RuntimeError) as e:
            srv.start()
        assert "is a symbolic link" in str(e.value), str(e.value)[-2000:]
    finally:
        srv.cleanup()


def test_prefix_in_a_directory_others_can_replace_is_refused():
    srv = squat_server(0o777)
    try:
        with pytest.raises(RuntimeError) as e:
            srv.start()
        assert re.search(r"WSGISocketPrefix \S+/shared/wsgi: '\S+/shared' is writable by every user \(owner uid 0, mode 0777\): another user could replace the socket directory", str(e.value)), str(e.value)[-2000:]
    finally:
        srv.cleanup()


def test_squatter_cannot_take_the_next_socket_name():
    srv = squat_server(0o1777)
    try:
        srv.start()
        srv.wait_for_log(r"WSGISocketPrefix \S+/shared/wsgi: '\S+/shared' is writable by every user \(sticky\)")
        assert srv.get("/g").status == 200
        d = srv.path("shared", "wsgi.d")
        st = os.lstat(d)
        assert stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o711
        # The next generation's socket name cannot be taken (the graceful-restart crash).
        next_name = os.path.join(d, "wsgi.%d.1.0.sock" % srv.pid)
        r = as_user(SQUAT, "mkdir", next_name)
        assert r.returncode != 0 and "Permission denied" in r.stderr, r
        assert as_user(SQUAT, "ls", d).returncode != 0  # not even listed
        srv.graceful()
        assert srv.get("/g").status == 200
        assert os.path.exists(next_name) and stat.S_ISSOCK(os.lstat(next_name).st_mode)
        srv.stop()
    finally:
        srv.cleanup()


def test_socket_directory_is_private(forge_srv):
    st = os.lstat(socket_dir(forge_srv))
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o711
