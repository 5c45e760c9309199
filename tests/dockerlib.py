"""Helpers for the tests that run mod_rwsgi in Docker containers.

The images are built by the project's own scripts (scripts/package.sh,
docker/build.sh); containers run on a bridge network the test creates and are
reached at their addresses on it (local addresses only, nothing published).

Without Docker these tests are skipped with one line, except under CI=true,
where a missing Docker fails them.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)
DOCKER_TESTS_DIR = os.path.join(TESTS_DIR, "docker")

IMAGE = os.environ.get("RWSGI_IMAGE", "mod_rwsgi:latest")
TEST_IMAGE = "mod_rwsgi-test:latest"
BASE_IMAGE = os.environ.get("RWSGI_BASE_IMAGE", "rwsgi-base:bookworm")
# Every container and network a test makes carries this label (cleanup).
LABEL = "org.mod-rwsgi.test"


def docker_problem():
    """None when the Docker daemon answers, else why not (one line)."""
    if shutil.which("docker") is None:
        return "docker is not installed"
    try:
        p = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "docker info failed: %s" % e
    if p.returncode != 0:
        return "the Docker daemon does not answer: %s" % (p.stderr.strip().splitlines() or ["?"])[-1]
    return None


_missing = []


def require_docker(extra=()):
    """Skip the calling test module (one line) when Docker or a tool is missing.

    Under CI=true nothing is skipped: every test that uses the `docker_present`
    fixture fails with the reason instead (the rest of the suite still runs).
    Called inside a test, it fails or skips that test."""
    problem = docker_problem()
    if problem is None:
        for tool in extra:
            if shutil.which(tool) is None:
                problem = "%s is not installed" % tool
                break
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        _missing.append(problem)
        if os.environ.get("PYTEST_CURRENT_TEST"):
            pytest.fail("CI=true and the Docker tests cannot run: %s" % problem)
        return
    pytest.skip("Docker tests skipped: %s" % problem, allow_module_level=True)


@pytest.fixture(autouse=True, scope="module")
def docker_present():
    """Autouse in the modules that import it: fails each test under CI=true without Docker."""
    if _missing:
        pytest.fail("CI=true and the Docker tests cannot run: %s" % _missing[-1])


def run(*args, check=True, timeout=600, input=None, env=None):
    """Run a command; returns CompletedProcess (text). Raises with its output on failure."""
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, input=input,
                       env=None if env is None else {**os.environ, **env})
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (" ".join(args), p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
    return p


def docker(*args, **kw):
    return run("docker", *args, **kw)


def last_line(text):
    return text.strip().splitlines()[-1].strip()


# ---- images (built once per test session) -----------------------------------
_built = {}
_lock = threading.Lock()


def package():
    """scripts/package.sh -> path of the .deb (its last output line)."""
    with _lock:
        if "deb" not in _built:
            p = run(os.path.join(REPO_ROOT, "scripts", "package.sh"), timeout=1800)
            deb = last_line(p.stdout)
            assert deb.endswith(".deb") and os.path.isfile(deb), p.stdout[-2000:]
            _built["deb"] = deb
        return _built["deb"]


def images():
    """docker/build.sh (mod_rwsgi:latest) and the test image FROM it; returns (image, test_image)."""
    deb = package()
    with _lock:
        if "images" not in _built:
            p = run(os.path.join(REPO_ROOT, "docker", "build.sh"), env={"RWSGI_DEB": deb}, timeout=1800)
            image = last_line(p.stdout)
            assert image == IMAGE, p.stdout[-2000:]
            docker("build", "--build-arg", "IMAGE=" + image, "-t", TEST_IMAGE, DOCKER_TESTS_DIR, timeout=1800)
            _built["images"] = (image, TEST_IMAGE)
        return _built["images"]


# ---- networks and containers --------------------------------------------------
class Network:
    """A bridge network for one test module; removed with everything on it."""

    def __init__(self):
        self.name = "rwsgi-test-%s" % uuid.uuid4().hex[:8]
        docker("network", "create", "--label", LABEL, self.name)

    def remove(self):
        ids = docker("ps", "-aq", "--filter", "network=" + self.name, check=False).stdout.split()
        if ids:
            docker("rm", "-f", *ids, check=False)
        docker("network", "rm", self.name, check=False)


class Container:
    def __init__(self, image, network, *command, name=None, options=()):
        self.name = name or "rwsgi-test-%s" % uuid.uuid4().hex[:8]
        docker("run", "-d", "--name", self.name, "--label", LABEL, "--network", network.name,
               *options, image, *command)
        self.network = network

    def inspect(self, fmt):
        return docker("inspect", "-f", fmt, self.name).stdout.strip()

    @property
    def ip(self):
        return json.loads(self.inspect("{{json .NetworkSettings.Networks}}"))[self.network.name]["IPAddress"]

    def exec(self, *args, check=True, timeout=600, user=None):
        opts = ["-u", user] if user else []
        return docker("exec", *opts, self.name, *args, check=check, timeout=timeout)

    def sh(self, script, check=True, timeout=600):
        return self.exec("sh", "-ec", script, check=check, timeout=timeout)

    def logs(self):
        p = docker("logs", self.name, check=False)
        return p.stdout + p.stderr

    def processes(self):
        """[(uid, pid, ppid, args)] as `docker top` sees them (host pids)."""
        out = docker("top", self.name, "-eo", "uid,pid,ppid,args").stdout.splitlines()[1:]
        rows = []
        for line in out:
            uid, pid, ppid, args = line.split(None, 3)
            rows.append((int(uid), int(pid), int(ppid), args))
        return rows

    def wait_http(self, path="/healthz", status=200, timeout=30, port=80):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                ip = self.ip
                if ip:
                    got = get(ip, path, port=port, timeout=2)
                    if got[0] == status:
                        return got
                    last = got
            except (OSError, http.client.HTTPException, KeyError) as e:
                last = e
            time.sleep(0.2)
        raise TimeoutError("%s%s not %d within %ds (last: %r)\n%s" % (self.name, path, status, timeout, last, self.logs()[-3000:]))

    def remove(self):
        docker("rm", "-f", self.name, check=False)


def get(host, path="/", port=80, timeout=10, headers=None):
    """One GET on a new connection: (status, body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


class Load:
    """A bounded load: `threads` clients doing GETs, each on a new connection,
    until stop() or `max_seconds`. Any non-200 or connection error is a failure."""

    def __init__(self, host, paths=("/",), port=80, threads=4, max_seconds=120, expect=None):
        self.host, self.port, self.paths = host, port, list(paths)
        self.expect = expect
        self.ok = 0
        self.failures = []
        self._stop = threading.Event()
        self._deadline = time.monotonic() + max_seconds
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _run(self, i):
        n = i
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            path = self.paths[n % len(self.paths)]
            n += 1
            try:
                status, body = get(self.host, path, port=self.port, timeout=30)
                good = status == 200 and (self.expect is None or self.expect in body)
                err = None if good else "%s -> %d %r" % (path, status, body[:100])
            except Exception as e:  # noqa: BLE001 - every failure counts
                err = "%s -> %s: %s" % (path, type(e).__name__, e)
            with self._lock:
                if err is None:
                    self.ok += 1
                else:
                    self.failures.append((time.strftime("%H:%M:%S"), err))

    def wait_for(self, count, timeout=30):
        """Wait until `count` more requests succeeded (the load is really running)."""
        start = self.ok
        deadline = time.monotonic() + timeout
        while self.ok - start < count:
            if time.monotonic() > deadline:
                raise TimeoutError("load: %d of %d requests in %ds; failures %r" % (self.ok - start, count, timeout, self.failures[:5]))
            time.sleep(0.05)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(60)
        return self.ok, self.failures


def wait_until(predicate, timeout, what, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("timed out after %ds waiting for %s" % (timeout, what))
        time.sleep(interval)
