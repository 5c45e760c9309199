"""docker/compose.yml: HAProxy (Debian's, on the same debootstrap base) in
front of two mod_rwsgi containers, health-checking their readiness URL.

A rolling restart under load, one container at a time: drain it through the
health check (/healthz answers 503 once /run/rwsgi-drain exists), wait until
HAProxy has taken it out, stop it gracefully (docker stop: SIGWINCH), start it,
wait until HAProxy has it back. No request may fail. The load runs from this
machine against HAProxy's address on the compose network the test creates.
"""

import csv
import io
import os
import uuid

import pytest

import dockerlib
from dockerlib import docker_present  # noqa: F401 (autouse: fails the tests under CI=true without Docker)
from dockerlib import Load, get, run, wait_until

dockerlib.require_docker(extra=("docker-compose",))

COMPOSE_FILE = os.path.join(dockerlib.REPO_ROOT, "docker", "compose.yml")


class Compose:
    def __init__(self):
        self.project = "rwsgitest%s" % uuid.uuid4().hex[:8]
        import harness

        self.env = {"RWSGI_HTTP_PORT": str(harness.free_port()), "RWSGI_STATS_PORT": str(harness.free_port())}

    def __call__(self, *args, timeout=600, check=True):
        return run("docker-compose", "-p", self.project, "-f", COMPOSE_FILE, *args,
                   env=self.env, timeout=timeout, check=check)

    def container(self, service):
        return self("ps", "-q", service).stdout.strip()

    def ip(self, service):
        cid = self.container(service)
        return dockerlib.docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", cid).stdout.strip()


@pytest.fixture(scope="module")
def stack():
    dockerlib.images()
    compose = Compose()
    try:
        compose("build", "haproxy", timeout=1200)
        compose("up", "-d", timeout=600)
        yield compose
    finally:
        compose("down", "-v", "--remove-orphans", "-t", "5", check=False)


def servers(haproxy_ip):
    """{server name: row} of the mod_rwsgi backend from HAProxy's CSV statistics."""
    status, body = get(haproxy_ip, "/stats;csv", port=8404, timeout=5)
    assert status == 200, body[:300]
    text = body.decode().lstrip("# ")
    return {row["svname"]: row for row in csv.DictReader(io.StringIO(text)) if row["pxname"] == "mod_rwsgi"
            and row["svname"] not in ("BACKEND", "FRONTEND")}


def wait_status(haproxy_ip, name, want, timeout=60):
    def check():
        try:
            return servers(haproxy_ip)[name]["status"].startswith(want)
        except OSError:
            return False
    wait_until(check, timeout, "HAProxy to see %s %s" % (name, want))


def test_rolling_restart_under_load_loses_no_request(stack):
    haproxy = stack.ip("haproxy")
    for name in ("web1", "web2"):
        wait_status(haproxy, name, "UP")
    assert get(haproxy, "/")[1].startswith(b"Hello from mod_rwsgi!")
    # The published port is on loopback only.
    assert get("127.0.0.1", "/", port=int(stack.env["RWSGI_HTTP_PORT"]))[0] == 200

    served_after_restart = {}
    with Load(haproxy, threads=4, max_seconds=300, expect=b"Hello from mod_rwsgi!") as load:
        load.wait_for(200)
        for name in ("web1", "web2"):
            cid = stack.container(name)
            dockerlib.docker("exec", cid, "touch", "/run/rwsgi-drain")
            wait_status(haproxy, name, "DOWN")          # drained: no new requests go there
            load.wait_for(100)                          # the other one carries the load alone
            stack("stop", "-t", "30", name)             # graceful stop
            assert dockerlib.docker("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "0"
            stack("start", name)
            wait_status(haproxy, name, "UP")            # ready again (the drain mark is gone)
            before = int(servers(haproxy)[name]["stot"])
            load.wait_for(200)
            served_after_restart[name] = int(servers(haproxy)[name]["stot"]) - before
        ok, failures = load.stop()
    assert failures == [], failures[:10]
    assert ok >= 1000
    print("rolling restart: %d requests through HAProxy, none failed; after restart %r" % (ok, served_after_restart))
    # Each restarted container took its share of the traffic again.
    assert all(n > 0 for n in served_after_restart.values()), served_after_restart
    logs = stack("logs", "--no-color", "web1", "web2").stdout
    assert logs.count("caught SIGWINCH, shutting down gracefully") == 2, logs[-3000:]
