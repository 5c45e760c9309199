"""mod_rwsgi:latest (docker/build.sh) in containers.

The image runs Debian's Apache in the foreground with the .deb installed; the
test image adds Debian's Flask and a user for daemon processes, and the test
site (tests/docker/site.conf) and applications are mounted into the Debian
layout. Each mode (embedded, daemon with user=appuser) gets its own container.
"""

import json
import os
import re
import signal
import threading
import time

import pytest

import dockerlib
from dockerlib import docker_present  # noqa: F401 (autouse: fails the tests under CI=true without Docker)
from dockerlib import Container, Load, docker, get, wait_until

dockerlib.require_docker()

SITE_MOUNTS = (
    "-v", "%s:/etc/apache2/sites-enabled/000-test.conf:ro" % os.path.join(dockerlib.DOCKER_TESTS_DIR, "site.conf"),
    "-v", "%s:/srv/test:ro" % os.path.join(dockerlib.DOCKER_TESTS_DIR, "apps"),
)
MODE_ARGS = {"embedded": (), "daemon": ("apache2-foreground", "-DRWSGI_DAEMON")}
WWW_DATA_UID = 33


@pytest.fixture(scope="module")
def network():
    dockerlib.images()
    net = dockerlib.Network()
    yield net
    net.remove()


def start_site(network, mode, options=()):
    c = Container(dockerlib.TEST_IMAGE, network, *MODE_ARGS[mode],
                  options=SITE_MOUNTS + ("--health-interval", "1s", "--health-start-period", "5s") + tuple(options))
    c.wait_http("/healthz")
    return c


@pytest.fixture(scope="module", params=["embedded", "daemon"])
def site(request, network):
    c = start_site(network, request.param)
    c.mode = request.param
    yield c
    c.remove()


def container_pid(host_pid):
    """The pid a host process has inside its container (last NSpid field)."""
    with open("/proc/%d/status" % host_pid) as f:
        return int(next(l for l in f if l.startswith("NSpid:")).split()[-1])


def graceful_count(c):
    return c.logs().count("resuming normal operations")


def test_image_runs_apache_in_the_foreground(network):
    image = dockerlib.IMAGE
    cfg = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", image).stdout)
    assert cfg["Cmd"] == ["apache2-foreground"]
    assert cfg["StopSignal"] == "SIGWINCH"
    assert cfg["Healthcheck"]["Test"][0] == "CMD" and "/healthz" in " ".join(cfg["Healthcheck"]["Test"])
    assert "80/tcp" in cfg["ExposedPorts"]
    # The package was installed by apt (dpkg knows it) onto Debian's Apache and Python.
    out = docker("run", "--rm", image, "dpkg-query", "-W", "-f", "${Package} ${Status}\n",
                 "libapache2-mod-rwsgi", "apache2", "python3").stdout
    assert out.count("install ok installed") == 3, out
    # Logs are the container's stdout/stderr.
    links = docker("run", "--rm", image, "sh", "-c", "readlink /var/log/apache2/access.log /var/log/apache2/error.log").stdout.split()
    assert links == ["/dev/stdout", "/dev/stderr"]


def test_serves_example_and_flask(site):
    status, body = get(site.ip, "/")
    assert status == 200
    assert body.startswith(b"Hello from mod_rwsgi!\n")
    group = b"site" if site.mode == "daemon" else b"(embedded)"
    assert b"process group " + group in body
    status, body = get(site.ip, "/flask/")
    assert (status, body.startswith(b"Flask 2.2.2 on mod_rwsgi")) == (200, True), body
    status, body = get(site.ip, "/flask/hello/docker")
    assert status == 200
    assert json.loads(body) == {"hello": "docker", "method": "GET", "script_name": "/flask"}
    # The access log line reached `docker logs`.
    wait_until(lambda: "GET /flask/hello/docker HTTP/1.1\" 200" in site.logs(), 10, "access log in docker logs")
    # Docker's own health check (the image's HEALTHCHECK command) sees the readiness URL.
    wait_until(lambda: site.inspect("{{.State.Health.Status}}") == "healthy", 30, "healthy")


def test_root_parent_unprivileged_children(site):
    procs = site.processes()
    parents = [p for p in procs if p[3].startswith("/usr/sbin/apache2")]
    root = [p for p in parents if p[0] == 0]
    assert len(root) == 1, procs
    parent_pid = root[0][1]
    children = [p for p in procs if p[2] == parent_pid]
    workers = [p for p in children if p[3].startswith("/usr/sbin/apache2")]
    assert workers and all(p[0] == WWW_DATA_UID for p in workers), procs
    info = json.loads(get(site.ip, "/info")[1])
    if site.mode == "daemon":
        uid = int(site.exec("id", "-u", "appuser").stdout)
        assert uid != 0
        assert info["user"] == "appuser" and info["uid"] == uid and info["process_group"] == "site"
        daemons = [p for p in children if p[3].startswith("rwsgi-site")]
        assert len(daemons) == 2 and all(p[0] == uid for p in daemons), procs
        assert info["pid"] in [container_pid(p[1]) for p in daemons]
    else:
        assert info["user"] == "www-data" and info["process_group"] == ""


def test_graceful_restart_under_load(site):
    before = graceful_count(site)
    with Load(site.ip, paths=("/", "/flask/", "/info"), threads=4) as load:
        load.wait_for(200)
        for _ in range(2):
            n = graceful_count(site)
            site.exec("apachectl", "-k", "graceful")
            wait_until(lambda: graceful_count(site) > n, 20, "graceful restart")
            load.wait_for(200)
        ok, failures = load.stop()
    assert graceful_count(site) == before + 2
    assert site.logs().count("SIGUSR1 received.  Doing graceful restart") >= 2
    assert failures == [], (failures[:5], [l for l in site.logs().splitlines() if re.search(r"\[rwsgi:|\[mpm|\" 5\d\d ", l)][-40:])
    assert ok >= 600
    print("graceful x2 (%s): %d requests, none failed" % (site.mode, ok))


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_docker_stop_lets_requests_in_flight_finish(network, mode):
    c = start_site(network, mode)
    try:
        result = {}

        def slow():
            t = time.monotonic()
            try:
                result["response"] = get(c.ip, "/slow?seconds=3", timeout=30)
            except Exception as e:  # noqa: BLE001
                result["response"] = e
            result["seconds"] = time.monotonic() - t

        ip = c.ip
        t = threading.Thread(target=slow)
        t.start()
        # The request is being handled (the slow app sleeps) when docker stop begins.
        time.sleep(1.0)
        start = time.monotonic()
        docker("stop", "-t", "30", c.name, timeout=60)
        stop_seconds = time.monotonic() - start
        t.join(30)
        assert result["response"] == (200, b"slept 3.0\n"), (result, c.logs()[-3000:])
        # Apache stopped by itself once the request was done, well before docker's SIGKILL.
        assert stop_seconds < 20, stop_seconds
        print("docker stop (%s): %.1fs, in-flight request %r after %.1fs" % (mode, stop_seconds, result["response"], result["seconds"]))
        assert c.inspect("{{.State.ExitCode}}") == "0"
        logs = c.logs()
        assert "caught SIGWINCH, shutting down gracefully" in logs, logs[-3000:]
        assert ip  # the address was known before the stop
    finally:
        c.remove()


def test_killed_apache_comes_back_under_restart_policy(network):
    c = start_site(network, "daemon", options=("--restart", "on-failure"))
    try:
        assert get(c.ip, "/")[0] == 200
        host_pid = int(c.inspect("{{.State.Pid}}"))
        os.kill(host_pid, signal.SIGKILL)
        wait_until(lambda: int(c.inspect("{{.RestartCount}}")) >= 1 and c.inspect("{{.State.Running}}") == "true",
                   30, "docker to restart the container")
        assert int(c.inspect("{{.State.Pid}}")) != host_pid
        c.wait_http("/healthz")
        status, body = get(c.ip, "/")
        assert status == 200 and b"process group site" in body
        # The restarted Apache did not trip over the killed one's pid file or drain mark.
        assert re.search(r"resuming normal operations", c.logs())
    finally:
        c.remove()
